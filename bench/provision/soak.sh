#!/usr/bin/env bash
# The soak: one `sipauth serve` (release, Kamailio backend on SQLite, as run.sh) held at half its
# measured peak rate for ten minutes with wrk rotating 1000 distinct RS256 ID tokens, its RSS
# sampled every 10 s. Target (issue 22): no error, RSS growth under 5 % from the first minute's
# end to the last sample. Usage: bench/provision/soak.sh [MINUTES, default 10]
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
minutes="${1:-10}"
port="$(free_port)"
start_sipauth "$port" "$work/sipauth.db"; pid=$last_pid
url="http://127.0.0.1:$port"

wrk_run "$url" 16 5 >/dev/null
peak="$(field rps "$(wrk_run "$url" 16 10)")"
target=$(( peak / 2 ))
# Each connection pauses 1 ms between requests (wrk's pacing is in whole milliseconds): measure
# what one paced connection does, then open as many as the target needs.
sed "s/^request = function()/delay = function() return 1 end\nrequest = function()/" \
  "$here/rotate.lua" >"$work/paced.lua"
connections=16
for _ in 1 2 3; do
  achieved="$(field rps "$(wrk_run "$url" "$connections" 5 "$work/paced.lua")")"
  connections=$(( (connections * target + achieved / 2) / achieved ))
  [ "$connections" -lt 1 ] && connections=1
done
echo "peak at concurrency 16: $peak provisions/s; soak target $target/s: $connections connections pacing 1 ms (the last calibration gave $achieved/s)"

(
  t=0
  while kill -0 "$pid" 2>/dev/null; do
    echo "$t $(now_rss_mib "$pid")"
    sleep 10; t=$((t + 10))
  done
) >"$work/rss.log" & sampler=$!; pids+=($sampler)
line="$(wrk_run "$url" "$connections" $((minutes * 60)) "$work/paced.lua")"
kill "$sampler" 2>/dev/null || true
after_minute="$(awk '$1 == 60 { print $2 }' "$work/rss.log")"
last="$(tail -n 1 "$work/rss.log" | awk '{ print $2 }')"
echo
echo "| minutes | provisions/s | p50 | p99 | errors | RSS at 1 min | RSS at the end | growth | peak RSS |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -v m="$minutes" -v r="$(field rps "$line")" -v a="$(field p50_us "$line")" -v b="$(field p99_us "$line")" \
  -v e="$(field errors "$line")+$(field non200 "$line")" -v x="$after_minute" -v y="$last" -v p="$(rss_mib "$pid")" \
  'BEGIN { printf "| %s | %s | %.2f ms | %.2f ms | %s | %s MiB | %s MiB | %+.1f %% | %s MiB |\n", m, r, a / 1000, b / 1000, e, x, y, (y - x) * 100 / x, p }'
echo
echo "RSS samples (seconds, MiB): $(awk '{ printf "%s:%s ", $1, $2 }' "$work/rss.log")"
machine
