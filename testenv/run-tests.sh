#!/usr/bin/env bash
# The whole test suite: installs and starts every peer, checks formatting and lints, runs every
# test in the workspace against the real peers, and stops the peers whatever happens.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

testenv/install.sh
trap 'testenv/stop.sh' EXIT
testenv/start.sh
# shellcheck disable=SC1091
. testenv/run/env

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
# The library in the browser: lints for wasm32, then its tests in headless Chromium.
cargo clippy -p sipauth --target wasm32-unknown-unknown --no-default-features --features web --locked -- -D warnings
cargo clippy -p sipauth-leptos --target wasm32-unknown-unknown --locked -- -D warnings
cargo clippy -p sipauth-leptos-example --target wasm32-unknown-unknown --target-dir target/leptos-example --locked -- -D warnings
export CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=60
cargo test -p sipauth --target wasm32-unknown-unknown --no-default-features --features web --locked --test web
cargo test -p sipauth-leptos --target wasm32-unknown-unknown --locked --test browser
# The example Leptos app, built once for its end-to-end test (examples/leptos-app/tests).
testenv/run-leptos-example.sh --build-only
cargo test --workspace --all-features --locked
# Every parser of untrusted input, each committed fuzz corpus replayed under the sanitizer.
fuzz/replay.sh
