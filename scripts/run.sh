#!/usr/bin/env bash
# Run the gateway with embedded defaults: a SQLite file under var/, the embedded policy engine,
# a generated local key file, and the local Google emulator when no Google OAuth client is set.
# Idempotent: re-running reuses .venv and var/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv
export GATEWAY_ENVIRONMENT="${GATEWAY_ENVIRONMENT:-dev}"
# The single-process demo syncs mailboxes in a worker thread of the API (docs/sync.md);
# deployments run `gmail-gateway worker` processes instead.
export GATEWAY_SYNC_IN_PROCESS_WORKER="${GATEWAY_SYNC_IN_PROCESS_WORKER:-true}"
PORT="${GATEWAY_PORT:-8000}"
mkdir -p var

if [ -z "${GATEWAY_GOOGLE_CLIENT_ID:-}" ] && [ -z "${GATEWAY_EMULATOR_URL:-}" ] \
   && [ -f "$ROOT/emulator/cli.py" ]; then
  EMULATOR_PORT="${GATEWAY_EMULATOR_PORT:-8765}"
  say "no Google OAuth client configured: starting the local Google emulator on :$EMULATOR_PORT"
  # Pushes go to this gateway; the audience is what the gateway expects (public URL + path).
  PUSH_URL="http://127.0.0.1:$PORT/v1/push/gmail"
  PUSH_AUDIENCE="${GATEWAY_PUSH_AUDIENCE:-${GATEWAY_PUBLIC_BASE_URL:-http://127.0.0.1:8000}/v1/push/gmail}"
  "$VENV/bin/gmail-emulator" serve --host 127.0.0.1 --port "$EMULATOR_PORT" \
    --push-url "$PUSH_URL" --push-audience "$PUSH_AUDIENCE" > var/emulator.log 2>&1 &
  EMULATOR_PID=$!
  trap 'kill $EMULATOR_PID 2>/dev/null || true' EXIT
  export GATEWAY_EMULATOR_URL="http://127.0.0.1:$EMULATOR_PORT"
fi

"$VENV/bin/gmail-gateway" migrate
say "gateway on http://127.0.0.1:$PORT  (try /readyz, /docs)"
exec_or_wait() { "$VENV/bin/gmail-gateway" serve --host 127.0.0.1 --port "$PORT"; }
exec_or_wait
