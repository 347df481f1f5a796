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
# The transport and runtime seam: the library without its native parts, for the browser.
cargo check -p sipauth --target wasm32-unknown-unknown --no-default-features --features web --locked
cargo test --workspace --all-features --locked
