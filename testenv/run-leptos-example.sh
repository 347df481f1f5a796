#!/usr/bin/env bash
# Builds the example Leptos app (examples/leptos-app) for the browser and serves it:
#   testenv/run-leptos-example.sh --issuer URL --client-id ID [--port P] [--sip-domain D] [--ws-uri URI]
#                                 [--api-endpoint URL|PATH] [--write-only DIR]
#                                 [--provider LABEL ISSUER CLIENT_ID ...] (instead of --issuer/--client-id)
#   testenv/run-leptos-example.sh --build-only
# Prints `serving http://127.0.0.1:P/` once the page is up (P = 8000 by default, 0 = a free port).
# Register http://127.0.0.1:P/oauth/callback at the provider, and let the provider's token
# endpoint answer the page's origin (CORS). Installs what is missing (the wasm32 target, the
# wasm-bindgen-cli matching Cargo.lock) as testenv/install.sh does. --build-only builds and stops;
# SIPAUTH_LEPTOS_NO_BUILD=1 serves what was built last (the test suite builds once, beforehand).
# --api-endpoint: the app provisions through `sipauth serve` (the `api` strategy; a path is the
# page's own origin). --write-only DIR: writes the page into DIR and stops, for
# `sipauth serve --static-dir DIR` (the app and the API on one origin). The page loads JsSIP
# (testenv/web's bundle, built when missing) and the app's js/softphone.js. --provider, repeated:
# several providers on one page ("Sign in with LABEL" each, the guide's Google / Microsoft).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# The meta tags hold what the page reads; escape what HTML attributes cannot carry.
attr() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/"/\&quot;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }
provider_tags=()
issuer="" client_id="" port=8000 sip_domain="" ws_uri="" api_endpoint="" write_only="" build_only=0
usage() { sed -n '2,5p' "$0" | sed 's/^# *//' >&2; exit "${1:-2}"; }
# The value of option $1, or a clear error when it has none.
value() { [ $# -ge 2 ] || { echo "run-leptos-example: $1 wants a value" >&2; usage; }; printf '%s' "$2"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --issuer) issuer="$(value "$@")"; shift 2 ;;
    --client-id) client_id="$(value "$@")"; shift 2 ;;
    --port) port="$(value "$@")"; shift 2 ;;
    --sip-domain) sip_domain="$(value "$@")"; shift 2 ;;
    --ws-uri) ws_uri="$(value "$@")"; shift 2 ;;
    --api-endpoint) api_endpoint="$(value "$@")"; shift 2 ;;
    --write-only) write_only="$(value "$@")"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --provider)
      [ $# -ge 4 ] || { echo "run-leptos-example: --provider wants LABEL ISSUER CLIENT_ID" >&2; usage; }
      provider_tags+=("  <meta name=\"sipauth-provider\" data-label=\"$(attr "$2")\" data-issuer=\"$(attr "$3")\" data-client-id=\"$(attr "$4")\">")
      shift 4 ;;
    -h|--help) usage 0 ;;
    *) echo "run-leptos-example: unknown argument $1" >&2; usage ;;
  esac
done
[ "$build_only" = 1 ] || [ "${#provider_tags[@]}" -gt 0 ] || { [ -n "$issuer" ] && [ -n "$client_id" ]; } || usage
[[ "$port" =~ ^[0-9]+$ ]] || { echo "run-leptos-example: --port wants a number" >&2; exit 2; }


target_dir="$root/target/leptos-example"
out="$root/testenv/run/leptos-example"
if [ "${SIPAUTH_LEPTOS_NO_BUILD:-}" != 1 ]; then
  rustup target list --installed | grep -qx wasm32-unknown-unknown \
    || rustup target add wasm32-unknown-unknown >&2
  wb_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
    echo "run-leptos-example: installing wasm-bindgen-cli $wb_version (a few minutes, once)" >&2
    cargo install --quiet wasm-bindgen-cli --version "$wb_version" >&2
  fi
  # Its own target directory: the build can run while another cargo holds the workspace's.
  cargo build --locked --quiet -p sipauth-leptos-example --target wasm32-unknown-unknown \
    --target-dir "$target_dir" >&2
  rm -rf "$out"
  mkdir -p "$out"
  wasm-bindgen --target web --no-typescript --out-dir "$out/pkg" \
    "$target_dir/wasm32-unknown-unknown/debug/sipauth-leptos-example.wasm" >&2
fi
[ "$build_only" = 1 ] && exit 0
[ -f "$out/pkg/sipauth-leptos-example.js" ] \
  || { echo "run-leptos-example: nothing built in $out (unset SIPAUTH_LEPTOS_NO_BUILD)" >&2; exit 1; }
jssip="$root/testenv/web/dist/jssip.js"
if [ ! -f "$jssip" ]; then
  (cd "$root/testenv/web" && npm ci --no-audit --no-fund --loglevel=error >&2 && npm run --silent build >&2)
fi
if [ -n "$write_only" ]; then
  mkdir -p "$write_only"
  cp -r "$out/pkg" "$write_only/"
  out="$write_only"
fi
cp "$jssip" "$out/jssip.js"
cp "$root/examples/leptos-app/js/softphone.js" "$out/softphone.js"

# The page: index.html for --write-only; otherwise a file of this run's own, so several runs
# of one build (the tests, in parallel) each serve their own settings.
if [ -n "$write_only" ]; then page="$out/index.html"; else page="$(mktemp "$out/page-XXXXXX.html")"; fi
cat >"$page" <<HTML
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="sipauth-issuer" content="$(attr "$issuer")">
  <meta name="sipauth-client-id" content="$(attr "$client_id")">
  <meta name="sipauth-sip-domain" content="$(attr "$sip_domain")">
  <meta name="sipauth-ws-uri" content="$(attr "$ws_uri")">
  <meta name="sipauth-api-endpoint" content="$(attr "$api_endpoint")">
$(printf '%s\n' "${provider_tags[@]}")
  <title>sipauth · Leptos example</title>
  <style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  dt { font-weight: 600; } dd { margin: 0 0 .5rem; word-break: break-all; }
  button { font-size: 1rem; padding: .5rem 1rem; }</style>
  <script src="/jssip.js"></script>
  <script src="/softphone.js"></script>
  <script type="module">import init from '/pkg/sipauth-leptos-example.js'; init();</script>
</head>
<body></body>
</html>
HTML
[ -z "$write_only" ] || exit 0
exec node "$root/testenv/leptos/serve.mjs" "$out" "$port" "$page"
