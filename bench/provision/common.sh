# Sourced by the provisioning benchmarks (run.sh, fleet.sh, soak.sh): a work directory removed
# at exit with every process started, the tools (wrk, the Node peer's modules, the release
# build), the local issuer with its tokens, `sipauth serve` instances, wrk runs, peak RSS.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.2; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "bench: $1 never appeared" >&2; exit 1; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "bench: $1 never answered" >&2; exit 1; }

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ ! -e "$here/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ]; then
  # better-sqlite3 builds from source here (no prebuilt downloads): Node's headers from the system.
  (cd "$here" && npm_config_nodedir=/usr npm ci --no-audit --no-fund >/dev/null 2>&1 \
    && npm_config_nodedir=/usr npm rebuild better-sqlite3 >/dev/null 2>&1)
fi
(cd "$root" && cargo build --release --locked -q -p sipauth-cli)
bin="$root/target/release/sipauth"

# The local issuer and 1000 distinct people's ID tokens ($TOKENS).
node "$here/issuer.mjs" "$work/tokens" "$work/issuer" 1000 & pids+=($!)
wait_for "$work/issuer"
issuer="$(cat "$work/issuer")"
export TOKENS="$work/tokens"

# start_sipauth PORT DATABASE [FLAGS...]: one instance; its PID in $last_pid.
start_sipauth() {
  local port="$1" database="$2"; shift 2
  "$bin" serve --listen "127.0.0.1:$port" --issuer "$issuer" --audience bench \
    --database "$database" --secret-file "$work/server.secret" --sip-domain sip.example.com \
    --ws-uri wss://sip.example.com/ws "$@" 2>>"$work/sipauth-$port.log" & last_pid=$!
  pids+=($last_pid)
  wait_http "http://127.0.0.1:$port/healthz"
}

# wrk_run URL CONCURRENCY SECONDS [SCRIPT]: the RESULT line (rps, p50_us, p99_us, errors).
wrk_run() {
  local threads=$(( $2 < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$2" -d"$3"s --latency -s "${4:-$here/rotate.lua}" "$1/api/sip/provision" \
    | grep '^RESULT'
}
field() { sed -E "s/.*$1=([0-9]+).*/\1/" <<<"$2"; }
rss_mib() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
now_rss_mib() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
machine() {
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), node $(node --version), commit $(git -C "$root" rev-parse --short HEAD)"
}
