#!/usr/bin/env bash
# Benchmarks the sipauth binary with hyperfine (apt package hyperfine): `sipauth --version` and
# `sipauth token` with a valid cached token. Goals: under 5 ms and 10 ms wall. Starts the test
# provider, signs in once (playing the browser with play-browser.py), then measures.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
testenv/install.sh
trap 'testenv/stop.sh' EXIT
testenv/start.sh
. testenv/run/env
cargo build --release --locked -p sipauth-cli
bin=target/release/sipauth
export SIPAUTH_DATA_DIR="$(mktemp -d)" SIPAUTH_STORE=file
"$bin" login --issuer "$SIPAUTH_TEST_ISSUER" --client-id sipauth-public --no-browser 2>"$SIPAUTH_DATA_DIR/login.err" >/dev/null &
for _ in $(seq 50); do grep -q '/auth?' "$SIPAUTH_DATA_DIR/login.err" 2>/dev/null && break; sleep 0.1; done
python3 testenv/play-browser.py "$(grep -o 'http://[^ ]*/auth?[^ ]*' "$SIPAUTH_DATA_DIR/login.err")" alice >/dev/null
wait
hyperfine --warmup 5 -N "$bin --version" "$bin token"
