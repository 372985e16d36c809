#!/usr/bin/env bash
# Attacks the local HTTP API (`herald-local serve`) with schemathesis, generating requests
# from the OpenAPI document (shared/openapi.json): every operation, a bounded number of
# examples each, the same ones on every run (infra/local/schemathesis.toml). Fails on any
# 5xx and on any answer whose body does not match the document. Part of test.sh.
#
#   HERALD_OPENAPI_FILE=path/to/openapi.json   attack another document
#   SCHEMATHESIS_PORT=3100                     serve's port (its fakes take the next three)
#   extra arguments are passed to `schemathesis run` (e.g. --include-path-regex /v1/escalations)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HERALD_ROOT"
# Straight to 127.0.0.1, never through a proxy (the readiness probes included).
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

DB=herald_schemathesis
PORT="${SCHEMATHESIS_PORT:-3100}"
ADDR="127.0.0.1:$PORT"
OPENAPI="${HERALD_OPENAPI_FILE:-$HERALD_ROOT/shared/openapi.json}"
OUT="$STATE_DIR/schemathesis"
SERVE_LOG="$OUT/serve.log"

SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ]; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  stop_started_services
}
trap cleanup EXIT

[ -f "$OPENAPI" ] || { log "no OpenAPI document at $OPENAPI"; exit 1; }
# Everything schemathesis reads must be in the file: a remote \$ref would be fetched.
if grep -Eq '"\$ref" *: *"[a-zA-Z][a-zA-Z0-9+.-]*:' "$OPENAPI"; then
  log "$OPENAPI has a non-local \$ref; schemathesis only talks to 127.0.0.1"; exit 1
fi
if curl -s -o /dev/null "http://$ADDR/"; then
  log "something already listens on $ADDR (set SCHEMATHESIS_PORT)"; exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT"

psql "$HERALD_PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB" -qc "CREATE DATABASE $DB"
export HERALD_DATABASE_URL="${HERALD_PG_ADMIN_URL/\/postgres\?/\/$DB?}"
# The same local-only configuration as run.sh (never deploy these values).
export HERALD_PUBLIC_BASE_URL="http://${ADDR}"
export HERALD_SES_FROM="herald@alerts.example.com"
export HERALD_SECRET_KEYS="local-1=bG9jYWwtb25seS1rZXktbmV2ZXItZGVwbG95LWl0ISE="
export HERALD_TEAMS_WEBHOOK_HOSTS="127.0.0.1"
export HERALD_VOICE_ORIGINATION_IDENTITY="+12065550100"
export HERALD_SLACK_SIGNING_SECRET="local-only-slack-signing-secret-0001"
export HERALD_SLACK_INTERACTIVE="true"
export HERALD_SLACK_CLIENT_ID="1790000000.0001"
export HERALD_SLACK_CLIENT_SECRET="local-only-slack-client-secret-0001"
export HERALD_TEAMS_CLIENT_ID="00000000-0000-4000-8000-0000000a11ce"
export HERALD_TEAMS_CLIENT_SECRET="local-only-teams-client-secret-0001"
export HERALD_SMS_REPLY_CODES="true"
export HERALD_SMS_ORIGINATION_NUMBER="+12065550111"
export RUST_LOG="warn"

cargo build --quiet --bin herald-local
BIN="$HERALD_ROOT/target/debug/herald-local"
"$BIN" migrate >/dev/null
# The key is printed once, on stdout: keep it in a variable, never in the log.
API_KEY="$("$BIN" tenant create schemathesis 2>"$OUT/tenant.err" | sed -n 's/^api_key=//p')" || true
[ -n "$API_KEY" ] || { cat "$OUT/tenant.err" >&2; log "herald-local tenant create printed no api_key"; exit 1; }

# serve creates the queues and the SES identity itself, and starts the fake Teams, voice
# and Slack providers on PORT+1..PORT+3.
"$BIN" serve --addr "$ADDR" >"$SERVE_LOG" 2>&1 &
SERVE_PID=$!
tries=0
until curl -s -o /dev/null "http://$ADDR/"; do
  kill -0 "$SERVE_PID" 2>/dev/null || { tail -20 "$SERVE_LOG" >&2; log "serve exited; see $SERVE_LOG"; exit 1; }
  tries=$((tries + 1)); [ "$tries" -gt 600 ] && { log "serve did not start; see $SERVE_LOG"; exit 1; }
  sleep 0.1
done

log "schemathesis on http://$ADDR from ${OPENAPI#"$HERALD_ROOT"/} (serve log: $SERVE_LOG)"
# In a subshell: the key goes to schemathesis through its environment (the config file
# reads it), never through argv, which every user can read. It runs from the state
# directory, so whatever schemathesis or Hypothesis writes lands there.
status=0
(
  cd "$OUT"
  export HERALD_SCHEMATHESIS_API_KEY="$API_KEY" HERALD_SCHEMATHESIS_STATE="$OUT"
  exec "$VENV/bin/schemathesis" --config-file "$HERALD_ROOT/infra/local/schemathesis.toml" \
    run "$OPENAPI" --url "http://$ADDR" --no-color "$@"
) || status=$?
if [ "$status" -ne 0 ]; then
  log "schemathesis failed (exit $status): failures above; serve log: $SERVE_LOG"
  exit "$status"
fi
log "schemathesis: no server error, every answer matches the document (serve log: $SERVE_LOG)"
