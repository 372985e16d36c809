#!/usr/bin/env bash
# Prints Herald's performance figures on the local stack: ingest vs its own statement
# run raw, every channel's dispatch throughput and statements per batch, cold start and
# first invoke per function, binary sizes, the scheduled functions on a large table, and
# end-to-end latency.
# Builds release binaries (host, for timing) and Lambda ones (arm64, for sizes) first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
trap stop_started_services EXIT
cd "$HERALD_ROOT"

FUNCTIONS=(ingest recipients dispatch-email dispatch-sms dispatch-push dispatch-slack dispatch-teams dispatch-voice magic-link sms-reply feedback retry retention)
BINS=()
for f in "${FUNCTIONS[@]}"; do BINS+=(--bin "$f"); done

log "release build (host): functions, hello-lambda baseline, herald-local"
cargo build --release --quiet "${BINS[@]}" --bin hello-lambda --bin herald-local

log "cargo lambda build --release --arm64 (what SAM deploys)"
cargo lambda build --release --arm64 --quiet "${BINS[@]}"

RUST_LOG="${RUST_LOG:-error}" target/release/herald-local bench "$@"
