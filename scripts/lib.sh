# Shared helpers for the project's scripts (sourced, not run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$ROOT/.venv"
OPA_VERSION="v1.22.2"
PG_PORT="${GATEWAY_TEST_PG_PORT:-55432}"
PG_DATA="$TOOLS/pgdata"
PG_SOCKET_DIR="$TOOLS/pgsock"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_venv() {
  # Set by a caller already running inside the installed .venv (the docs test runs run.sh from
  # the suite): reinstalling the package under a running suite would be wrong.
  if [ "${GATEWAY_SKIP_INSTALL:-}" = 1 ] && [ -x "$VENV/bin/python" ]; then return 0; fi
  # A linked .venv belongs to another checkout (a git worktree sharing it): installing here
  # would repoint its editable install at this checkout.
  if [ -L "$VENV" ] && [ -x "$VENV/bin/python" ]; then return 0; fi
  # Pinned: constraints.txt holds the versions CI last passed with (pyproject.toml the ranges).
  local stamp="$VENV/.installed-$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -c1-16)"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv in .venv"
    python3 -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ]; then
    say "installing the gateway and its dev tools into .venv"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -c "$ROOT/constraints.txt" -e "$ROOT[dev]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

# The browser tests (tests/browser) drive Debian's Chromium through Playwright, launched with
# its executable path: Playwright's own browser download is never used.
ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    say "installing Chromium from Debian's packages (for the browser tests)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
  fi
}

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

ensure_postgres_installed() {
  if ! pg_bin >/dev/null; then
    say "installing PostgreSQL from Debian's packages"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
  fi
}

# Run a PostgreSQL binary as a non-root user (the server refuses to run as root).
pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_postgres_running() {
  ensure_postgres_installed
  local bin; bin="$(pg_bin)"
  mkdir -p "$TOOLS"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    say "initialising a private PostgreSQL cluster in .tools/pgdata (port $PG_PORT)"
    mkdir -p "$PG_DATA" "$PG_SOCKET_DIR"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DATA" "$PG_SOCKET_DIR"
    chmod 700 "$PG_DATA"
    pg_run "$bin/initdb" -D "$PG_DATA" -U gateway --auth=trust -E UTF8 >/dev/null
  fi
  if ! pg_run "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_SOCKET_DIR"
    pg_run "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w \
      -o "-p $PG_PORT -k $PG_SOCKET_DIR -c listen_addresses=127.0.0.1 -c fsync=off \
          -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
  fi
  export GATEWAY_TEST_DATABASE_URL="postgresql+psycopg://gateway@127.0.0.1:$PG_PORT/postgres"
}

ensure_opa() {
  local opa="$TOOLS/bin/opa"
  # (no `| grep -q`: under pipefail grep's early exit SIGPIPEs opa and the check always failed)
  if [ -x "$opa" ] && [[ "$("$opa" version 2>/dev/null)" == *"Version: ${OPA_VERSION#v}"$'\n'* ]]; then
    export GATEWAY_OPA_BINARY="$opa"; return 0
  fi
  command -v go >/dev/null || { echo "Go is needed to build OPA ($OPA_VERSION)" >&2; exit 1; }
  say "building OPA $OPA_VERSION from its Go module into .tools/bin (once)"
  mkdir -p "$TOOLS/bin"
  GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod go install "github.com/open-policy-agent/opa@$OPA_VERSION"
  export GATEWAY_OPA_BINARY="$opa"
}

AXE_CORE_VERSION="4.14.1"

# axe-core (the npm package, pinned) for the pages' accessibility checks in the browser tests:
# tests/browser/accessibility.py injects its axe.min.js into each page. Cached in .tools/.
ensure_axe_core() {
  local dir="$TOOLS/axe-core/$AXE_CORE_VERSION"
  if [ ! -f "$dir/node_modules/axe-core/axe.min.js" ]; then
    command -v npm >/dev/null || { echo "npm is needed to install axe-core" >&2; exit 1; }
    say "installing axe-core $AXE_CORE_VERSION from npm into .tools/axe-core (once)"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --ignore-scripts \
      "axe-core@$AXE_CORE_VERSION" >/dev/null
  fi
  export GATEWAY_AXE_CORE_JS="$dir/node_modules/axe-core/axe.min.js"
}

KUBECONFORM_VERSION="v0.8.0"
K8S_SCHEMA_VERSION="1.33.0"

# kubeconform (from its Go module) and standalone Kubernetes schemas for it (from the
# kubernetes-validate package in .venv), both cached in .tools: deployment files are validated
# offline.
ensure_kubeconform() {
  local bin="$TOOLS/bin/kubeconform"
  # A binary built from the module reports no version: a stamp beside it names the one built.
  if [ ! -x "$bin" ] || [ "$(cat "$bin.version" 2>/dev/null)" != "$KUBECONFORM_VERSION" ]; then
    command -v go >/dev/null || { echo "Go is needed to build kubeconform" >&2; exit 1; }
    say "building kubeconform $KUBECONFORM_VERSION from its Go module into .tools/bin (once)"
    mkdir -p "$TOOLS/bin"
    GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod go install \
      "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
    echo "$KUBECONFORM_VERSION" > "$bin.version"
  fi
  if [ ! -d "$TOOLS/k8s-schemas/v$K8S_SCHEMA_VERSION-standalone-strict" ]; then
    "$VENV/bin/python" "$ROOT/scripts/k8s_schemas.py" "$K8S_SCHEMA_VERSION" "$TOOLS/k8s-schemas" >/dev/null
  fi
  export GATEWAY_KUBECONFORM_BINARY="$bin" GATEWAY_K8S_SCHEMAS="$TOOLS/k8s-schemas"
  export GATEWAY_K8S_VERSION="$K8S_SCHEMA_VERSION"
}

REGAL_VERSION="v0.42.0"

# Regal, the Rego linter (from its Go module), cached in .tools/bin. Built from the module's own
# directory (`go mod download`, then `go build` there with its go.mod and go.sum) rather than by
# `go install module@version`: that also asks the module proxy for the module's version list
# (for a deprecation notice), which the proxy this project reaches refuses for Regal.
ensure_regal() {
  local bin="$TOOLS/bin/regal"
  if [ -x "$bin" ] && [[ "$("$bin" version 2>/dev/null)" == *"Version:"*" $REGAL_VERSION"$'\n'* ]]; then
    export GATEWAY_REGAL_BINARY="$bin"; return 0
  fi
  command -v go >/dev/null || { echo "Go is needed to build Regal ($REGAL_VERSION)" >&2; exit 1; }
  say "building Regal $REGAL_VERSION from its Go module into .tools/bin (once)"
  mkdir -p "$TOOLS/bin"
  local dir
  dir="$(cd "$TOOLS" && go mod download -json "github.com/open-policy-agent/regal@$REGAL_VERSION" \
    | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  (cd "$dir" && go build -trimpath -o "$bin" \
    -ldflags "-X github.com/open-policy-agent/regal/pkg/version.Version=$REGAL_VERSION" .)
  export GATEWAY_REGAL_BINARY="$bin"
}
