#!/usr/bin/env bash
# Hostile clients against `sipauth serve --dev` (release build): 10,000 idle connections,
# slowloris, oversized headers and bodies, 100,000 distinct unknown paths and methods, while a
# well-behaved client measures its latency and the service's RSS is sampled (hostile.py).
# Prints hostile.py's JSON; the numbers go in BENCHMARKS.md. Not a test: they depend on the
# machine. Usage: bench/hostile/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
(cd "$root" && cargo build --release --locked -q -p sipauth-cli)
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
SIPAUTH_DATA_DIR="$work/data" "$root/target/release/sipauth" serve --dev --listen "127.0.0.1:$port" \
  2>"$work/serve.log" & pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
# Warm up the routes once, so "idle" means a service that has served.
for path in / /healthz /readyz /metrics /openapi.json /auth/login/0; do
  curl -s -o /dev/null "http://127.0.0.1:$port$path"
done
sleep 2
python3 "$here/hostile.py" 127.0.0.1 "$port" "$pid"
