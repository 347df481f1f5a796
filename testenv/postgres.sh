# Sourced: start_postgres DIR starts a throwaway PostgreSQL cluster in DIR on a free loopback
# port (trust authentication, loopback only, fsync off, 200 connections) with a database
# `sipauth_test`, records its PID in DIR/postgres.pid and prints its URL. initdb refuses root: as
# root the cluster belongs to Debian's postgres user. Used by start.sh and the benchmarks.
start_postgres() {
  local dir="$1" pgbin port
  pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  rm -rf "$dir/pg"
  mkdir -p "$dir/pg"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/pg"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  as_pg "$pgbin/initdb" -D "$dir/pg/data" -A trust -U postgres --no-sync >"$dir/postgres-init.log" 2>&1 || {
    echo "postgres: initdb failed; its log:" >&2; cat "$dir/postgres-init.log" >&2; return 1; }
  as_pg "$pgbin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/postgres.log" -w -t 30 \
    -o "-p $port -k $dir/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  head -n 1 "$dir/pg/data/postmaster.pid" >"$dir/postgres.pid"
  as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres sipauth_test
  echo "postgres://postgres@127.0.0.1:$port/sipauth_test"
}
