#!/usr/bin/env bash
# Runs each function binary under `cargo lambda watch` (the Lambda runtime emulator) and
# feeds it the sample events in events/ with `cargo lambda invoke --data-file`, checking
# each answer. Part of test.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HERALD_ROOT"

DB=herald_lambda_smoke
PORT="${LAMBDA_SMOKE_PORT:-9010}"
psql "$HERALD_PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB" -qc "CREATE DATABASE $DB"
export HERALD_DATABASE_URL="${HERALD_PG_ADMIN_URL/\/postgres\?/\/$DB?}"
cargo build --quiet --bin herald-local
target/debug/herald-local migrate >/dev/null
psql "${HERALD_DATABASE_URL}" -q -f infra/local/seed-samples.sql
QUEUE_VARS="$(target/debug/herald-local queues)"
# Teams and End User Messaging voice are not in the emulator: local fakes on fixed ports
# (the put-teams-webhook sample points at 9012). The voice client finds its fake through
# AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2 alone, as on a real deployment's override.
FAKES_TEAMS_PORT=9012
FAKES_VOICE_PORT=9013
FAKES_SLACK_PORT=9014
target/debug/herald-local fakes --teams-port "$FAKES_TEAMS_PORT" --voice-port "$FAKES_VOICE_PORT" \
  --slack-port "$FAKES_SLACK_PORT" \
  >"$STATE_DIR/fakes.log" 2>&1 &
FAKES_PID=$!

ENV_FILE="$STATE_DIR/lambda-smoke.env"
cat >"$ENV_FILE" <<ENV
HERALD_DATABASE_URL="$HERALD_DATABASE_URL"
$QUEUE_VARS
HERALD_PUBLIC_BASE_URL="http://127.0.0.1:3000"
HERALD_SES_FROM="herald@alerts.example.com"
HERALD_SECRET_KEYS="local-1=bG9jYWwtb25seS1rZXktbmV2ZXItZGVwbG95LWl0ISE="
HERALD_TEAMS_WEBHOOK_HOSTS="127.0.0.1"
HERALD_VOICE_ORIGINATION_IDENTITY="+12065550100"
AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2="http://127.0.0.1:$FAKES_VOICE_PORT"
HERALD_SLACK_API_BASE_URL="http://127.0.0.1:$FAKES_SLACK_PORT/api"
HERALD_SLACK_SIGNING_SECRET="local-only-slack-signing-secret-0001"
HERALD_SLACK_INTERACTIVE="true"
AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL"
AWS_ACCESS_KEY_ID="testing"
AWS_SECRET_ACCESS_KEY="testing"
AWS_REGION="us-east-1"
RUST_LOG="warn"
ENV

# The tenant's Slack installation, as the OAuth callback will store it (token sealed).
(set -a; source "$ENV_FILE"; SLACK_BOT_TOKEN=xoxb-sample-smoke-token target/debug/herald-local \
  slack install --tenant 00000000-0000-4000-8000-000000000001 --team T0SAMPLES >/dev/null)

log "cargo lambda watch on 127.0.0.1:$PORT"
cargo lambda watch --quiet --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$PORT" \
  --env-file "$ENV_FILE" >"$STATE_DIR/lambda-watch.log" 2>&1 &
WATCH_PID=$!
trap 'kill $WATCH_PID $FAKES_PID 2>/dev/null || true; stop_started_services' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$PORT/"; do
  kill -0 "$WATCH_PID" 2>/dev/null || { cat "$STATE_DIR/lambda-watch.log"; exit 1; }
  sleep 0.2
done

failures=0
check() { # binary event-file jq-ish expectation (grep pattern on the JSON answer)
  local bin="$1" file="$2" expect="$3" out
  out="$(cargo lambda invoke "$bin" --data-file "$file" --invoke-address 127.0.0.1 --invoke-port "$PORT" --output-format json 2>&1 || true)"
  if grep -Eq "$expect" <<<"$out"; then
    printf 'ok   %-15s %-45s %s\n' "$bin" "$file" "$(grep -Eo "$expect" <<<"$out" | head -1)"
  else
    printf 'FAIL %-15s %-45s expected /%s/, got: %s\n' "$bin" "$file" "$expect" "${out:0:400}"
    failures=$((failures + 1))
  fi
}
check_row() { # notification id, expected status: what a dispatcher sample did to its row
  local id="$1" expect="$2" got
  got="$(psql "$HERALD_DATABASE_URL" -Atqc "SELECT status FROM notification_log WHERE id = '$id'")"
  if [ "$got" = "$expect" ]; then
    printf 'ok   %-15s %-45s %s\n' "row" "$id" "$got"
  else
    printf 'FAIL %-15s %-45s expected %s, got %s\n' "row" "$id" "$expect" "${got:-nothing}"
    failures=$((failures + 1))
  fi
}
check_escalation() { # escalation id, expected "status|acknowledged_by"
  local id="$1" expect="$2" got
  got="$(psql "$HERALD_DATABASE_URL" -Atqc "SELECT status || '|' || coalesce(acknowledged_by, '') FROM escalations WHERE id = '$id'")"
  if [ "$got" = "$expect" ]; then
    printf 'ok   %-15s %-45s %s\n' "escalation" "$id" "$got"
  else
    printf 'FAIL %-15s %-45s expected %s, got %s\n' "escalation" "$id" "$expect" "${got:-nothing}"
    failures=$((failures + 1))
  fi
}
check ingest events/ingest/create-escalation.json '"statusCode": ?202'
check ingest events/ingest/create-escalation-invalid.json '"statusCode": ?400'
check ingest events/ingest/unauthorized.json '"statusCode": ?401'
check ingest events/ingest/get-escalation.json '"statusCode": ?200'
check ingest events/ingest/get-openapi.json '"statusCode": ?200'
check recipients events/recipients/list-notifications.json 'Sample escalation on every channel'
check recipients events/recipients/unread-count.json '"unread\\?": ?[1-9]'
check recipients events/recipients/put-teams-webhook.json '"statusCode": ?200'
check recipients events/recipients/get-recipient.json '"id\\?": ?\\?"u-alice'
check magic-link events/magic-link/get-link.json '"statusCode": ?200'
check magic-link events/magic-link/post-link.json '"statusCode": ?200'
check magic-link events/magic-link/post-link.json '"statusCode": ?410'
# Signed with the local secret, but on 22 Nov 2026: past the five-minute window.
check magic-link events/magic-link/slack-action.json '"statusCode": ?401'
check ingest events/ingest/acknowledge-escalation.json '"changed\\?": ?false'
check ingest events/ingest/resolve-escalation.json '"statusCode": ?200'
check dispatch-email events/dispatch-email/sqs-batch.json '"batchItemFailures": ?\[\]'
check dispatch-sms events/dispatch-sms/sqs-batch.json '"batchItemFailures": ?\[\]'
check_row 5c0b7d1e-2a39-4e4d-8c8b-9f0a1b2c3d41 sent
check dispatch-push events/dispatch-push/sqs-batch.json '"batchItemFailures": ?\[\]'
check_row 4b9a6c0d-1928-4d3c-9b7a-8e9f0a1b2c52 failed # the sample endpoint does not exist: NotFound, for good
check dispatch-slack events/dispatch-slack/sqs-batch.json '"batchItemFailures": ?\[\]'
check_row 18673fda-e5f6-4a09-8847-5b6c7d8e9f85 sent # with the installation stored above, to the Slack fake
# "This escalation was answered" on the Slack queue: its Slack messages are rewritten.
check dispatch-slack events/dispatch-slack/answered.json '"batchItemFailures": ?\[\]'
check dispatch-teams events/dispatch-teams/sqs-batch.json '"batchItemFailures": ?\[\]'
check_row 3a895bfc-0817-4c2b-8a69-7d8e9f0a1b63 sent # to the webhook the put-teams-webhook sample registered
check dispatch-voice events/dispatch-voice/sqs-batch.json '"batchItemFailures": ?\[\]'
check_row 29784aeb-f706-4b1a-9958-6c7d8e9f0a74 sent # to the voice fake
# Bob replies "1a" (raw, as the template subscribes), then STOP (in an SNS envelope),
# then a poison message: his code acknowledges the escalation, STOP is the carrier's.
check sms-reply events/sms-reply/sqs-batch.json '"batchItemFailures": ?\[\]'
check_escalation 1c4e2d2f-6a7b-4c8d-9e0f-1a2b3c4d5e6f "acknowledged|Bob Stone"
# A bounce for a message Herald has no row for (sent an hour before the sample's clock:
# past the retry window), an SES Send event in an SNS envelope (nothing about arrival)
# and a poison message: all acknowledged, none returned to the queue.
check feedback events/feedback/sqs-batch.json '"batchItemFailures": ?\[\]'
check retry events/retry/scheduled.json '"stopped_early": ?false'
check retention events/retention/scheduled.json '"magic_link_tokens": ?[0-9]+'

# Every function wrote its metrics after its invocations: CloudWatch embedded metric format
# documents on stdout, one per label set, each with the level it logs at (herald::metrics).
check_metrics() { # function, a metric it must have counted
  local fn="$1" metric="$2" doc
  doc="$(grep -o "{\"_aws\":.*\"Function\":\"$fn\".*}" "$STATE_DIR/lambda-watch.log" | grep "\"$metric\":" | head -1 || true)"
  if [ -n "$doc" ] && grep -q '"Namespace":"Herald"' <<<"$doc" && grep -q '"level":"' <<<"$doc"; then
    printf 'ok   %-15s %-45s %s\n' "metrics" "$fn" "$(grep -o "\"$metric\":[^,}]*" <<<"$doc")"
  else
    printf 'FAIL %-15s %-45s no EMF document with %s\n' "metrics" "$fn" "$metric"
    failures=$((failures + 1))
  fi
}
check_metrics ingest Responses
check_metrics recipients Responses
check_metrics magic-link Responses
check_metrics dispatch-email Messages
check_metrics dispatch-sms Sent
check_metrics dispatch-push Failed
check_metrics dispatch-slack Sent
check_metrics dispatch-teams Sent
check_metrics dispatch-voice ClaimToSendMs
check_metrics sms-reply SmsReplies
check_metrics feedback ReceiptsUnmatched
check_metrics retry SweepMs
check_metrics retention SweepMs

[ "$failures" -eq 0 ] || { log "$failures sample event(s) failed"; exit 1; }
log "every function answered its sample events under cargo lambda watch"
