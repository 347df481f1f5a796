#!/usr/bin/env bash
# Fuzzes every target (or the ones named) for SECONDS each (default 1800), growing the committed
# corpora, then minimises them and prints one line per target: executions, coverage, features,
# corpus size, crashes. The numbers go in FUZZING.md. Not part of the test command.
# The targets are built once, then run as binaries: editing the sources meanwhile is safe.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-1800}"; shift || true
targets="${*:-$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^sipauth-fuzz$')}"
cargo +nightly fuzz build -O >&2
bin="target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
mkdir -p artifacts
for t in $targets; do
  log="artifacts/$t.log"
  mkdir -p "artifacts/$t"
  "$bin/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -close_fd_mask=3 >"$log" 2>&1 && status=ok || status=CRASH
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  # Minimise: keep the inputs that add coverage.
  merged="$(mktemp -d)"
  if "$bin/$t" -merge=1 "$merged" "corpus/$t" >/dev/null 2>&1; then
    rm -rf "corpus/$t" && mv "$merged" "corpus/$t"
  else
    rm -rf "$merged"
  fi
  files=$(find "corpus/$t" -type f | wc -l)
  echo "$t executions=$execs cov=$cov ft=$ft corpus=$files seconds=$seconds $status"
done
