#!/usr/bin/env bash
# Starts every test peer on a free loopback port (oidc-provider, PostgreSQL), records its PID under
# testenv/run/, and writes testenv/run/env: shell exports (SIPAUTH_TEST_ISSUER,
# SIPAUTH_TEST_POSTGRES_URL) that the tests read. Stop with stop.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
run="$here/run"
mkdir -p "$run"
"$here/stop.sh" >/dev/null 2>&1 || true

wait_for_file() { # path, seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do [ -s "$1" ] && return 0; sleep 0.1; done
  return 1
}

# --- oidc-provider -----------------------------------------------------------------------------
rm -f "$run/oidc-provider.issuer"
ISSUER_FILE="$run/oidc-provider.issuer" nohup node "$here/oidc-provider/server.mjs" \
  >"$run/oidc-provider.log" 2>&1 </dev/null &
echo $! >"$run/oidc-provider.pid"
if ! wait_for_file "$run/oidc-provider.issuer" 30; then
  echo "testenv: oidc-provider did not start; its log:" >&2
  cat "$run/oidc-provider.log" >&2
  exit 1
fi
issuer="$(cat "$run/oidc-provider.issuer")"
curl -fsS "$issuer/.well-known/openid-configuration" >/dev/null

# --- PostgreSQL ------------------------------------------------------------------------------
# A throwaway cluster in run/pg (testenv/postgres.sh).
. "$here/postgres.sh"
pg_url="$(start_postgres "$run")"
echo "testenv: PostgreSQL at $pg_url (pid $(cat "$run/postgres.pid"))" >&2

cat >"$run/env" <<EOT
export SIPAUTH_TEST_ISSUER='$issuer'
export SIPAUTH_TEST_POSTGRES_URL='$pg_url'
EOT
echo "testenv: oidc-provider at $issuer (pid $(cat "$run/oidc-provider.pid"))" >&2
