#!/usr/bin/env bash
# Installs every test peer this project uses, from the package registries only. Idempotent.
# Owns installation; starting and stopping belong to start.sh and stop.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

need_apt=()
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# PostgreSQL server (the provisioning service's shared database).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# Kamailio 5.6 (the SIP server of the end-to-end tests) with WebSocket, SQLite, PostgreSQL and
# auth_ephemeral and TLS modules; SIPp (sip-tester) as a classic SIP client.
command -v kamailio >/dev/null 2>&1 || need_apt+=(kamailio)
for m in websocket sqlite postgres autheph tls; do
  dpkg -s "kamailio-$m-modules" >/dev/null 2>&1 || need_apt+=("kamailio-$m-modules")
done
command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
# Several service instances behind a real load balancer (tests/it/scale.rs).
command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
# Native softphones that must register with what `sipauth credentials` prints: baresip 1.0 and
# linphone 5.1 (linphone-daemon), without their recommended desktop extras.
need_apt_bare=()
command -v baresip >/dev/null 2>&1 || need_apt_bare+=(baresip-core)
command -v linphone-daemon >/dev/null 2>&1 || need_apt_bare+=(linphone-cli)
# Chromium for the browser tests (driven by npm playwright-core; no browser is downloaded).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# Python with venv for schemathesis (PyPI), the property-based API fuzzer.
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "testenv: installing ${need_apt[*]} with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
if [ "${#need_apt_bare[@]}" -gt 0 ]; then
  echo "testenv: installing ${need_apt_bare[*]} with apt-get (no recommends)" >&2
  [ "${#need_apt[@]}" -gt 0 ] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt_bare[@]}"
fi

# oidc-provider 9.13.3, exactly as pinned by package-lock.json.
(cd "$here/oidc-provider" && npm ci --no-audit --no-fund --loglevel=error >&2)
# JsSIP 3.13.8 + jssip-node-websocket 3.0.0: validates generated client configurations and
# registers at Kamailio over WebSocket.
(cd "$here/jssip" && npm ci --no-audit --no-fund --loglevel=error >&2)
# openid-client 6 (a certified relying party, checks the development identity provider) and
# playwright-core (drives Debian Chromium through the web sign-in page).
(cd "$here/web" && npm ci --no-audit --no-fund --loglevel=error >&2 && npm run --silent build >&2)

# schemathesis, exactly as pinned, in its own virtual environment (the suite runs it against the
# service's /openapi.json).
st="$here/schemathesis"
st_version="$(sed -n 's/^schemathesis==//p' "$st/requirements.txt")"
if ! "$st/venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$st_version"; then
  echo "testenv: installing schemathesis $st_version (PyPI)" >&2
  python3 -m venv "$st/venv"
  "$st/venv/bin/pip" install --quiet --disable-pip-version-check -r "$st/requirements.txt" >&2
fi

# scim2-tester, exactly as pinned, in its own virtual environment (the suite runs its SCIM
# compliance check against the service's /scim/v2).
sc="$here/scim"
sc_version="$(sed -n 's/^scim2-tester==//p' "$sc/requirements.txt")"
if ! "$sc/venv/bin/python" -c "import importlib.metadata as m; assert m.version('scim2-tester') == '$sc_version'" 2>/dev/null; then
  echo "testenv: installing scim2-tester $sc_version (PyPI)" >&2
  python3 -m venv "$sc/venv"
  "$sc/venv/bin/pip" install --quiet --disable-pip-version-check -r "$sc/requirements.txt" >&2
fi

# cargo-fuzz on nightly: the test command replays the committed fuzz corpora (fuzz/replay.sh).
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal >&2
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --quiet --locked cargo-fuzz >&2

rustup component add rustfmt clippy >/dev/null 2>&1 || true
# The library must keep compiling for the browser (checked by run-tests.sh).
rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown >&2
# wasm-bindgen-test-runner, exactly the wasm-bindgen version in Cargo.lock (a mismatch fails with
# a "schema version" error). Built once; skipped when the installed one matches. No --locked:
# its published lockfile names a webpki-roots version the registry lacks.
wb_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$here/../Cargo.lock")"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  echo "testenv: installing wasm-bindgen-cli $wb_version (a few minutes, once)" >&2
  cargo install --quiet wasm-bindgen-cli --version "$wb_version" >&2
fi
