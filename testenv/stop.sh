#!/usr/bin/env bash
# Stops every peer that start.sh started, by the PIDs it recorded. Safe to run twice.
set -uo pipefail
run="$(cd "$(dirname "$0")" && pwd)/run"
for pidfile in "$run"/*.pid; do
  [ -e "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
done
rm -f "$run/env"
