#!/usr/bin/env bash
# Starts every test peer on a free loopback port (oidc-provider, PostgreSQL), records its PID under
# testenv/run/, and writes testenv/run/env: shell exports (SIPAUTH_TEST_ISSUER,
# SIPAUTH_TEST_POSTGRES_URL) that the tests read. Stop with stop.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
run="$here/run"
mkdir -p "$run"
"$here/stop.sh" >/dev/null 2>&1 || true

wait_for_file() { # path, seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do [ -s "$1" ] && return 0; sleep 0.1; done
  return 1
}

# --- oidc-provider -----------------------------------------------------------------------------
rm -f "$run/oidc-provider.issuer"
ISSUER_FILE="$run/oidc-provider.issuer" nohup node "$here/oidc-provider/server.mjs" \
  >"$run/oidc-provider.log" 2>&1 </dev/null &
echo $! >"$run/oidc-provider.pid"
if ! wait_for_file "$run/oidc-provider.issuer" 30; then
  echo "testenv: oidc-provider did not start; its log:" >&2
  cat "$run/oidc-provider.log" >&2
  exit 1
fi
issuer="$(cat "$run/oidc-provider.issuer")"
curl -fsS "$issuer/.well-known/openid-configuration" >/dev/null

# --- PostgreSQL ------------------------------------------------------------------------------
# A throwaway cluster in run/pg on a free loopback port, trust authentication for loopback only.
# initdb refuses to run as root: as root, the cluster belongs to Debian's postgres user.
pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg="$run/pg"
rm -rf "$pg"
mkdir -p "$pg"
[ "$(id -u)" = 0 ] && chown postgres: "$pg"
pg_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
as_pg "$pgbin/initdb" -D "$pg/data" -A trust -U postgres --no-sync >"$run/postgres-init.log" 2>&1 || {
  echo "testenv: initdb failed; its log:" >&2; cat "$run/postgres-init.log" >&2; exit 1; }
as_pg "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -t 30 \
  -o "-p $pg_port -k $pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
head -n 1 "$pg/data/postmaster.pid" >"$run/postgres.pid"
as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres sipauth_test
pg_url="postgres://postgres@127.0.0.1:$pg_port/sipauth_test"
echo "testenv: PostgreSQL at $pg_url (pid $(cat "$run/postgres.pid"))" >&2

cat >"$run/env" <<EOT
export SIPAUTH_TEST_ISSUER='$issuer'
export SIPAUTH_TEST_POSTGRES_URL='$pg_url'
EOT
echo "testenv: oidc-provider at $issuer (pid $(cat "$run/oidc-provider.pid"))" >&2
