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
QUEUE_URL="$(target/debug/herald-local queues)"

ENV_FILE="$STATE_DIR/lambda-smoke.env"
cat >"$ENV_FILE" <<ENV
HERALD_DATABASE_URL="$HERALD_DATABASE_URL"
HERALD_QUEUE_URL_EMAIL="$QUEUE_URL"
HERALD_PUBLIC_BASE_URL="http://127.0.0.1:3000"
HERALD_SES_FROM="herald@alerts.example.com"
AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL"
AWS_ACCESS_KEY_ID="testing"
AWS_SECRET_ACCESS_KEY="testing"
AWS_REGION="us-east-1"
RUST_LOG="warn"
ENV

log "cargo lambda watch on 127.0.0.1:$PORT"
cargo lambda watch --quiet --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$PORT" \
  --env-file "$ENV_FILE" >"$STATE_DIR/lambda-watch.log" 2>&1 &
WATCH_PID=$!
trap 'kill $WATCH_PID 2>/dev/null || true; stop_started_services' EXIT
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
check ingest events/ingest/create-escalation.json '"statusCode": ?202'
check ingest events/ingest/create-escalation-invalid.json '"statusCode": ?400'
check ingest events/ingest/unauthorized.json '"statusCode": ?401'
check ingest events/ingest/get-escalation.json '"statusCode": ?200'
check magic-link events/magic-link/get-link.json '"statusCode": ?200'
check magic-link events/magic-link/post-link.json '"statusCode": ?200'
check magic-link events/magic-link/post-link.json '"statusCode": ?410'
check ingest events/ingest/acknowledge-escalation.json '"changed\\?": ?false'
check ingest events/ingest/resolve-escalation.json '"statusCode": ?200'
check dispatch-email events/dispatch-email/sqs-batch.json '"batchItemFailures": ?\[\]'
check retry events/retry/scheduled.json '"stopped_early": ?false'
check retention events/retention/scheduled.json '"magic_link_tokens": ?[0-9]+'

[ "$failures" -eq 0 ] || { log "$failures sample event(s) failed"; exit 1; }
log "every function answered its sample events under cargo lambda watch"
