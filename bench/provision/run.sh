#!/usr/bin/env bash
# The provisioning benchmark: `sipauth serve` (Kamailio backend on SQLite, release build) against
# the guide's pattern in Node (node-peer.mjs), both verifying RS256 ID tokens from one local
# issuer, loaded by wrk rotating 1000 distinct tokens, at concurrency 1, 16 and 64, the two
# alternating. Prints a Markdown table (provisions/s, p50, p99, peak RSS) for BENCHMARKS.md.
# Not a test: numbers depend on the machine. Usage: bench/provision/run.sh [SECONDS per run]
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
duration="${1:-10}"

rust_port="$(free_port)"
start_sipauth "$rust_port" "$work/sipauth.db"; rust_pid=$last_pid
node_port="$(free_port)"
node "$here/node-peer.mjs" "$issuer" "$node_port" "$work/node.db" 2>"$work/node.log" & node_pid=$!; pids+=($node_pid)
wait_http "http://127.0.0.1:$node_port/"

run() { wrk_run "http://127.0.0.1:$2" "$3" "$4"; } # name port concurrency seconds

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
machine
