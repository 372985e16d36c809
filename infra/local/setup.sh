# Sourced by run.sh, test.sh and bench.sh: installs what the local stack needs
# (idempotently) and starts PostgreSQL and the AWS emulator if they are not running.
# Exports HERALD_* and AWS_* variables for the stack. Safe to source repeatedly.
set -euo pipefail

HERALD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="$HERALD_ROOT/infra/local/.state"
VENV="$HERALD_ROOT/.venv"
mkdir -p "$STATE_DIR"

log() { printf '\033[1;34m[herald]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing apt packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# --- tools -----------------------------------------------------------------
command -v curl >/dev/null || apt_install curl
command -v pg_isready >/dev/null || apt_install postgresql-client

if [ ! -x "$VENV/bin/python" ]; then
  log "creating the Python venv in .venv"
  python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$VENV"; }
fi
REQ="$HERALD_ROOT/infra/local/requirements.txt"
if ! cmp -s "$REQ" "$VENV/.installed-requirements" 2>/dev/null; then
  log "installing moto[server], cfn-lint, cargo-lambda, checkov and schemathesis into .venv"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$VENV/.installed-requirements"
fi
export PATH="$VENV/bin:$PATH"

# --- PostgreSQL ------------------------------------------------------------
# Reuse a server on 127.0.0.1:5432 with trust auth; otherwise run our own on 5433.
if pg_isready -q -h 127.0.0.1 -p 5432 && psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
  PGPORT_LOCAL=5432
else
  PGPORT_LOCAL=5433
  if ! pg_isready -q -h 127.0.0.1 -p 5433; then
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then apt_install postgresql; fi
    PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    PGDATA_LOCAL="$STATE_DIR/pgdata"
    if [ ! -f "$PGDATA_LOCAL/PG_VERSION" ]; then
      log "initialising a PostgreSQL cluster in $PGDATA_LOCAL"
      mkdir -p "$PGDATA_LOCAL"
      if [ "$(id -u)" = 0 ]; then chown postgres "$PGDATA_LOCAL"; RUN_PG=(runuser -u postgres --); else RUN_PG=(); fi
      "${RUN_PG[@]}" "$PGBIN/initdb" -D "$PGDATA_LOCAL" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if [ "$(id -u)" = 0 ]; then RUN_PG=(runuser -u postgres --); else RUN_PG=(); fi
    log "starting PostgreSQL on 127.0.0.1:5433"
    "${RUN_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_LOCAL" -w -l "$PGDATA_LOCAL/server.log" \
      -o "-c listen_addresses=127.0.0.1 -p 5433 -k /tmp -c fsync=off -c max_connections=300" start >/dev/null
  fi
fi
export HERALD_PG_ADMIN_URL="postgres://postgres@127.0.0.1:${PGPORT_LOCAL}/postgres?sslmode=disable"

# --- AWS emulator ----------------------------------------------------------
export MOTO_PORT="${MOTO_PORT:-5055}"
HERALD_STARTED_MOTO=""
export AWS_ENDPOINT_URL="http://127.0.0.1:${MOTO_PORT}"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
if ! curl -fsS "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1; then
  log "starting the AWS emulator (moto) on 127.0.0.1:${MOTO_PORT}"
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$STATE_DIR/moto.log" 2>&1 &
  echo $! >"$STATE_DIR/moto.pid"
  HERALD_STARTED_MOTO=$!
  for _ in $(seq 1 100); do curl -fsS "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "$AWS_ENDPOINT_URL/moto-api/" >/dev/null || { log "moto did not start; see $STATE_DIR/moto.log"; exit 1; }
fi

# Stops what this script started (call from an EXIT trap).
stop_started_services() {
  if [ -n "${HERALD_STARTED_MOTO:-}" ]; then kill "$HERALD_STARTED_MOTO" 2>/dev/null || true; fi
}

# Drops the per-test databases earlier runs left behind.
drop_test_databases() {
  psql "$HERALD_PG_ADMIN_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'herald\_test\_%'" |
    while read -r db; do psql "$HERALD_PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null; done
}
