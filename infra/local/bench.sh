#!/usr/bin/env bash
# Prints Herald's performance figures on the local stack: ingest vs raw insert
# throughput, SQL statements per dispatch batch, cold start per function, binary sizes.
# Builds release binaries (host, for timing) and Lambda ones (arm64, for sizes) first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
trap stop_started_services EXIT
cd "$HERALD_ROOT"

log "release build (host): functions, hello-lambda baseline, herald-local"
cargo build --release --quiet --bin ingest --bin dispatch-email --bin magic-link --bin retry --bin retention --bin hello-lambda --bin herald-local

log "cargo lambda build --release --arm64 (what SAM deploys)"
cargo lambda build --release --arm64 --quiet --bin ingest --bin dispatch-email --bin magic-link --bin retry --bin retention

RUST_LOG="${RUST_LOG:-error}" target/release/herald-local bench "$@"
