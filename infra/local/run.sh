#!/usr/bin/env bash
# Starts Herald on this machine (PostgreSQL, the AWS emulator, the functions behind a
# local API Gateway and SQS poller) and runs a live demo of the main flow. Then keeps
# serving on http://127.0.0.1:3000 until Ctrl-C (pass --demo-only to stop after the demo).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HERALD_ROOT"

DEMO_ONLY=""
[ "${1:-}" = "--demo-only" ] && DEMO_ONLY=1
ADDR="${HERALD_LOCAL_ADDR:-127.0.0.1:3000}"

if ! psql "$HERALD_PG_ADMIN_URL" -Atqc "SELECT 1 FROM pg_database WHERE datname = 'herald'" | grep -q 1; then
  log "creating database herald"
  psql "$HERALD_PG_ADMIN_URL" -qc 'CREATE DATABASE herald'
fi
export HERALD_DATABASE_URL="${HERALD_PG_ADMIN_URL/\/postgres\?/\/herald?}"
export HERALD_PUBLIC_BASE_URL="http://${ADDR}"
export HERALD_SES_FROM="${HERALD_SES_FROM:-herald@alerts.example.com}"
# Local-only values: a fixed sealing key (never deploy it), the loopback fake Teams
# provider, and the number local calls come from.
export HERALD_SECRET_KEYS="${HERALD_SECRET_KEYS:-local-1=bG9jYWwtb25seS1rZXktbmV2ZXItZGVwbG95LWl0ISE=}"
export HERALD_TEAMS_WEBHOOK_HOSTS="${HERALD_TEAMS_WEBHOOK_HOSTS:-127.0.0.1}"
export HERALD_VOICE_ORIGINATION_IDENTITY="${HERALD_VOICE_ORIGINATION_IDENTITY:-+12065550100}"
# The local Slack app: buttons post back to /slack/actions, signed with this secret.
export HERALD_SLACK_SIGNING_SECRET="${HERALD_SLACK_SIGNING_SECRET:-local-only-slack-signing-secret-0001}"
export HERALD_SLACK_INTERACTIVE="${HERALD_SLACK_INTERACTIVE:-true}"
export HERALD_SLACK_CLIENT_ID="${HERALD_SLACK_CLIENT_ID:-1790000000.0001}"
export HERALD_SLACK_CLIENT_SECRET="${HERALD_SLACK_CLIENT_SECRET:-local-only-slack-client-secret-0001}"
# The local Entra ID app people connect their Teams identity with (serve points it at
# the fake Microsoft token endpoint).
export HERALD_TEAMS_CLIENT_ID="${HERALD_TEAMS_CLIENT_ID:-00000000-0000-4000-8000-0000000a11ce}"
export HERALD_TEAMS_CLIENT_SECRET="${HERALD_TEAMS_CLIENT_SECRET:-local-only-teams-client-secret-0001}"
# SMS pages carry reply codes ("reply 4a to acknowledge"); replies come in on the local
# two-way number's topic (herald-sms-inbound), as End User Messaging delivers them.
export HERALD_SMS_REPLY_CODES="${HERALD_SMS_REPLY_CODES:-true}"
export HERALD_SMS_ORIGINATION_NUMBER="${HERALD_SMS_ORIGINATION_NUMBER:-+12065550111}"
export RUST_LOG="${RUST_LOG:-warn}"

log "building herald-local"
cargo build --quiet --bin herald-local
BIN="$HERALD_ROOT/target/debug/herald-local"

log "applying migrations"
"$BIN" migrate

log "starting the functions on http://${ADDR}"
"$BIN" serve --addr "$ADDR" &
SERVE_PID=$!
cleanup() { kill "$SERVE_PID" 2>/dev/null || true; stop_started_services; }
trap cleanup EXIT
tries=0
until curl -s -o /dev/null "http://${ADDR}/"; do
  tries=$((tries + 1)); [ "$tries" -gt 300 ] && { log "serve did not start"; exit 1; }
  sleep 0.1
done

"$BIN" demo --base-url "http://${ADDR}"

if [ -z "$DEMO_ONLY" ]; then
  log "Herald is running on http://${ADDR} (emulator ${AWS_ENDPOINT_URL}). Ctrl-C to stop."
  log "create your own key: HERALD_DATABASE_URL=$HERALD_DATABASE_URL $BIN tenant create \"My team\""
  wait "$SERVE_PID"
fi
