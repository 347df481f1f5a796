#!/usr/bin/env bash
# The provisioning benchmark: `sipauth serve` (Kamailio backend on SQLite, release build) against
# the guide's pattern in Node (node-peer.mjs), both verifying RS256 ID tokens from one local
# issuer, loaded by wrk rotating 1000 distinct tokens, at concurrency 1, 16 and 64, the two
# alternating. Prints a Markdown table (provisions/s, p50, p99, peak RSS) for BENCHMARKS.md.
# Not a test: numbers depend on the machine. Usage: bench/provision/run.sh [SECONDS per run]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
duration="${1:-10}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ ! -e "$here/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ]; then
  # better-sqlite3 builds from source here (no prebuilt downloads): Node's headers from the system.
  (cd "$here" && npm_config_nodedir=/usr npm ci --no-audit --no-fund >/dev/null 2>&1 \
    && npm_config_nodedir=/usr npm rebuild better-sqlite3 >/dev/null 2>&1)
fi
(cd "$root" && cargo build --release --locked -q -p sipauth-cli)
bin="$root/target/release/sipauth"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "bench: $1 never appeared" >&2; exit 1; }

node "$here/issuer.mjs" "$work/tokens" "$work/issuer" 1000 & pids+=($!)
wait_for "$work/issuer"
issuer="$(cat "$work/issuer")"

rust_port="$(free_port)"
"$bin" serve --listen "127.0.0.1:$rust_port" --issuer "$issuer" --audience bench \
  --database "$work/sipauth.db" --secret-file "$work/server.secret" --sip-domain sip.example.com \
  --ws-uri wss://sip.example.com/ws 2>"$work/sipauth.log" & rust_pid=$!; pids+=($rust_pid)
node_port="$(free_port)"
node "$here/node-peer.mjs" "$issuer" "$node_port" "$work/node.db" 2>"$work/node.log" & node_pid=$!; pids+=($node_pid)
for port in "$rust_port" "$node_port"; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

export TOKENS="$work/tokens"
run() { # name port concurrency seconds
  local threads=$(( $3 < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$3" -d"$4"s --latency -s "$here/rotate.lua" "http://127.0.0.1:$2/api/sip/provision" \
    | grep '^RESULT'
}
rss_mib() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# Warm up both (every account created, keys fetched, JIT warm), then measure, alternating.
run sipauth "$rust_port" 16 3 >/dev/null
run node "$node_port" 16 3 >/dev/null
echo "| concurrency | service | provisions/s | p50 | p99 | errors |"
echo "|---:|---|---:|---:|---:|---:|"
declare -A rps
for c in 1 16 64; do
  for name in sipauth node; do
    port=$rust_port; [ "$name" = node ] && port=$node_port
    line="$(run "$name" "$port" "$c" "$duration")"
    r="$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$line")"
    p50="$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line")"
    p99="$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")"
    err="$(sed -E 's/.*errors=([0-9]+) non200=([0-9]+).*/\1+\2/' <<<"$line")"
    rps[$name$c]=$r
    awk -v c="$c" -v n="$name" -v r="$r" -v a="$p50" -v b="$p99" -v e="$err" \
      'BEGIN { printf "| %s | %s | %s | %.2f ms | %.2f ms | %s |\n", c, n, r, a / 1000, b / 1000, e }' 
  done
done
echo
for c in 1 16 64; do
  awk -v c="$c" -v a="${rps[sipauth$c]}" -v b="${rps[node$c]}" \
    'BEGIN { printf "ratio at concurrency %s: %.1fx\n", c, a / b }' 
done
echo "peak RSS: sipauth $(rss_mib $rust_pid) MiB, node $(rss_mib $node_pid) MiB"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), node $(node --version)"
