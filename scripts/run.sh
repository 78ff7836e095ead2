#!/usr/bin/env bash
# Run the gateway with embedded defaults: a SQLite file under var/, the embedded policy engine,
# a generated local key file, and the local Google emulator when no Google OAuth client is set.
# With the emulator, this is the demo: its OAuth client accepts this gateway's callback, its
# user's mailbox is seeded with a few hundred generated messages, and `gmail-gateway demo`
# (printed at the end) sets up a tenant, keys and a consent link.
# Idempotent: re-running reuses .venv and var/ (the emulator starts afresh each time).
# GATEWAY_PORT (8000) and GATEWAY_EMULATOR_PORT (8765) move the two servers;
# GATEWAY_DEMO_EMAIL (dana@example.com) and GATEWAY_DEMO_MESSAGES (300) shape the demo mailbox.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv
export GATEWAY_ENVIRONMENT="${GATEWAY_ENVIRONMENT:-dev}"
# The single-process demo syncs mailboxes in a worker thread of the API (docs/sync.md) and runs
# the periodic jobs in a scheduler thread; deployments run `gmail-gateway worker` and
# `gmail-gateway scheduler` processes instead (docs/deploy.md, "The scheduler").
export GATEWAY_SYNC_IN_PROCESS_WORKER="${GATEWAY_SYNC_IN_PROCESS_WORKER:-true}"
export GATEWAY_PORT="${GATEWAY_PORT:-8000}"
PORT="$GATEWAY_PORT"
# Consent links and the OAuth callback name the port the gateway listens on.
export GATEWAY_PUBLIC_BASE_URL="${GATEWAY_PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
# A CRM running locally on :3000 may be the return URL of consent links (dev only; without a
# return URL the gateway shows its own result page).
if [ "$GATEWAY_ENVIRONMENT" = dev ]; then
  export GATEWAY_CRM_REDIRECT_ALLOWLIST="${GATEWAY_CRM_REDIRECT_ALLOWLIST:-[\"http://127.0.0.1:3000/\",\"http://localhost:3000/\"]}"
fi
DEMO_EMAIL="${GATEWAY_DEMO_EMAIL:-dana@example.com}"
mkdir -p var

EMULATOR_PID=""
stop_emulator() { if [ -n "$EMULATOR_PID" ]; then kill "$EMULATOR_PID" 2>/dev/null || true; fi; }
trap stop_emulator EXIT

if [ -z "${GATEWAY_GOOGLE_CLIENT_ID:-}" ] && [ -z "${GATEWAY_EMULATOR_URL:-}" ] \
   && [ -f "$ROOT/emulator/cli.py" ]; then
  EMULATOR_PORT="${GATEWAY_EMULATOR_PORT:-8765}"
  say "no Google OAuth client configured: starting the local Google emulator on :$EMULATOR_PORT"
  # Pushes go to this gateway; the audience is what the gateway expects (public URL + path).
  PUSH_URL="http://127.0.0.1:$PORT/v1/push/gmail"
  PUSH_AUDIENCE="${GATEWAY_PUSH_AUDIENCE:-$GATEWAY_PUBLIC_BASE_URL/v1/push/gmail}"
  # A seeded mailbox (deterministic: --seed) for the demo user.
  "$VENV/bin/gmail-emulator" serve --host 127.0.0.1 --port "$EMULATOR_PORT" \
    --user "$DEMO_EMAIL" --seed-generate "${GATEWAY_DEMO_MESSAGES:-300}" --seed 7 \
    --push-url "$PUSH_URL" --push-audience "$PUSH_AUDIENCE" > var/emulator.log 2>&1 &
  EMULATOR_PID=$!
  export GATEWAY_EMULATOR_URL="http://127.0.0.1:$EMULATOR_PORT"
  # Once it answers, register the emulator's built-in OAuth client (the gateway's default with
  # GATEWAY_EMULATOR_URL) again, with this gateway's callback as its redirect URI.
  "$VENV/bin/python" - "$GATEWAY_EMULATOR_URL" "$GATEWAY_PUBLIC_BASE_URL/oauth/callback" <<'PY'
import json, sys, time, urllib.request
base, callback = sys.argv[1:3]
for _ in range(600):
    try:
        urllib.request.urlopen(base + "/.well-known/openid-configuration", timeout=1)
        break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit("the emulator did not start; see var/emulator.log")
client = {"client_id": "emulator-client.apps.googleusercontent.com",
          "client_secret": "emulator-secret", "redirect_uris": [callback], "name": "Demo CRM"}
urllib.request.urlopen(urllib.request.Request(
    base + "/_emulator/clients", data=json.dumps(client).encode(),
    headers={"Content-Type": "application/json"}), timeout=30)
PY
fi

"$VENV/bin/gmail-gateway" migrate
DEMO_CMD=".venv/bin/gmail-gateway demo"
if [ "$GATEWAY_PUBLIC_BASE_URL" != "http://127.0.0.1:8000" ]; then
  DEMO_CMD="GATEWAY_PUBLIC_BASE_URL=$GATEWAY_PUBLIC_BASE_URL $DEMO_CMD"
fi
cat >&2 <<EOF

  Gateway on $GATEWAY_PUBLIC_BASE_URL  (/readyz; the API is described at /docs)
${GATEWAY_EMULATOR_URL:+  Google emulator on $GATEWAY_EMULATOR_URL, user $DEMO_EMAIL with a seeded mailbox
}
  Next, in another terminal in this directory, with the same GATEWAY_* settings
  (README.md, "Connect a mailbox and read it"):

    $DEMO_CMD

  and open the link it prints in a browser. Ctrl-C stops the servers.

EOF
"$VENV/bin/gmail-gateway" serve --host 127.0.0.1 --port "$PORT"
