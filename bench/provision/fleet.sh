#!/usr/bin/env bash
# Several instances: `sipauth serve` on PostgreSQL, one instance alone and then three behind
# Debian's HAProxy (round robin, health checks on /readyz: the configuration of docs/deploy.md),
# loaded by wrk rotating 1000 distinct RS256 ID tokens at concurrency 16 and 64. Everything runs
# on this one machine (PostgreSQL, HAProxy, the instances and wrk share its cores), so the
# three-instance numbers show the overhead of the balancer and the coordination, not the
# capacity of three machines. Prints a Markdown table for BENCHMARKS.md.
# Usage: bench/provision/fleet.sh [SECONDS per run]
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
duration="${1:-10}"
command -v haproxy >/dev/null || { apt-get update -qq && apt-get install -y -qq haproxy >/dev/null; }
. "$root/testenv/postgres.sh"
# The cluster's owner (postgres, when run as root) must reach its directory inside the work one.
chmod 711 "$work"
pg_url="$(start_postgres "$work")"
pids+=("$(cat "$work/postgres.pid")")
# The operator's one secret for every instance (on PostgreSQL none makes its own).
(umask 077 && head -c 32 /dev/urandom | base64 >"$work/server.secret")

ports=()
for i in 0 1 2; do
  ports+=("$(free_port)")
  start_sipauth "${ports[$i]}" "$pg_url"
  instance_pids[$i]=$last_pid
done

lb_port="$(free_port)"
printf 'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{"error":"temporarily_unavailable"}\n' >"$work/503.http"
{
  printf 'global\n    maxconn 4096\n\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n'
  printf '    retries 3\n    option redispatch 1\n    retry-on conn-failure empty-response\n    errorfile 503 %s\n\n' "$work/503.http"
  printf 'frontend sipauth\n    bind 127.0.0.1:%s\n    option forwardfor\n    default_backend instances\n\n' "$lb_port"
  printf 'backend instances\n    balance roundrobin\n    option httpchk GET /readyz\n    http-check expect status 200\n'
  printf '    default-server inter 200ms fall 2 rise 1\n'
  for i in 0 1 2; do printf '    server s%s 127.0.0.1:%s check\n' "$i" "${ports[$i]}"; done
} >"$work/haproxy.cfg"
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$lb_port/healthz"
sleep 1

one="http://127.0.0.1:${ports[0]}"
lb="http://127.0.0.1:$lb_port"
# Warm up: every account created, every instance's keys fetched and cache filled.
wrk_run "$lb" 16 5 >/dev/null
wrk_run "$one" 16 3 >/dev/null
echo "| setup | concurrency | provisions/s | p50 | p99 | errors |"
echo "|---|---:|---:|---:|---:|---:|"
for c in 16 64; do
  for setup in one lb; do
    url=$one; label="1 instance on PostgreSQL"
    [ "$setup" = lb ] && { url=$lb; label="3 instances behind HAProxy"; }
    line="$(wrk_run "$url" "$c" "$duration")"
    awk -v s="$label" -v c="$c" -v r="$(field rps "$line")" -v a="$(field p50_us "$line")" \
      -v b="$(field p99_us "$line")" -v e="$(field errors "$line")+$(field non200 "$line")" \
      'BEGIN { printf "| %s | %s | %s | %.2f ms | %.2f ms | %s |\n", s, c, r, a / 1000, b / 1000, e }'
  done
done
echo
echo "peak RSS per instance: $(for p in "${instance_pids[@]}"; do printf '%s MiB ' "$(rss_mib "$p")"; done)"
machine
