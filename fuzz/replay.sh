#!/usr/bin/env bash
# Replays every committed fuzz corpus through its target, built by cargo-fuzz with nightly and
# the address sanitizer: each input once (-runs=0), no fresh fuzzing. Part of the test command
# (testenv/run-tests.sh); fails on the first crash, leak, or timeout. fuzz/run.sh fuzzes.
set -euo pipefail
cd "$(dirname "$0")"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^sipauth-fuzz$')
cargo +nightly fuzz build -O >&2
for t in $targets; do
  n=$(find "corpus/$t" -type f | wc -l)
  echo "fuzz replay: $t ($n inputs)" >&2
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- -runs=0 -timeout=10 -rss_limit_mb=2048 \
    >"/tmp/sipauth-fuzz-replay-$t.log" 2>&1 || { cat "/tmp/sipauth-fuzz-replay-$t.log" >&2; exit 1; }
done
