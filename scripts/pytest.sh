#!/usr/bin/env bash
# Targeted pytest with the real services ready (PostgreSQL, OPA), without the lint steps of
# scripts/test.sh: `scripts/pytest.sh tests/sync -x -q`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_postgres_running >/dev/null
ensure_opa >/dev/null
exec .venv/bin/python -m pytest "$@"
