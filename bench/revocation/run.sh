#!/usr/bin/env bash
# Time to revocation (issue 19): from the provider's word (a SCIM deactivation's answer, a
# back-channel logout's answer, a credential lease's end) to Kamailio refusing the old password
# and forgetting the registered contact, over RUNS people per path (default 20). Needs
# Kamailio 5.6 (testenv/install.sh). Prints JSON; the numbers go in BENCHMARKS.md.
# Usage: bench/revocation/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cargo build --release --locked -q -p sipauth-cli -p sipauth-bench-revocation
SIPAUTH_BIN="$root/target/release/sipauth" "$root/target/release/sipauth-bench-revocation"
