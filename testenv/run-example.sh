#!/usr/bin/env bash
# The main job until the provisioning service lands: start the local OpenID provider and run the
# sign-in example against it with its embedded defaults (public client, PKCE, loopback redirect).
# The example plays the browser too (SIPAUTH_EXAMPLE_AUTO_LOGIN), so it runs unattended.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
testenv/install.sh
trap 'testenv/stop.sh' EXIT
testenv/start.sh
# shellcheck disable=SC1091
. testenv/run/env
SIPAUTH_EXAMPLE_AUTO_LOGIN="${SIPAUTH_EXAMPLE_AUTO_LOGIN:-alice}" \
  cargo run --locked -p sipauth-cli --example signin -- --issuer "$SIPAUTH_TEST_ISSUER" "$@"
