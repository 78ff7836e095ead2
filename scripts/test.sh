#!/usr/bin/env bash
# The whole test suite on real parts: installs what it needs (idempotent, cached in .venv and
# .tools), starts a private PostgreSQL on 127.0.0.1:55432, builds OPA once, installs Debian's
# Chromium and axe-core for the browser tests (screenshots in artifacts/screenshots/), builds
# Regal once, then runs the linters, the Rego checks (opa fmt, check, test; Regal) and pytest.
# Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv
ensure_postgres_running
ensure_opa
ensure_regal
ensure_chromium
ensure_axe_core
ensure_kubeconform

say "ruff"
"$VENV/bin/ruff" check gateway emulator tests bench migrations tools
say "mypy (strict on gateway/)"
"$VENV/bin/mypy"
say "import layers (lint-imports; [tool.importlinter] in pyproject.toml, docs/architecture.md)"
"$VENV/bin/lint-imports"
say "opa fmt / check / test"
fmt_diff="$("$GATEWAY_OPA_BINARY" fmt --list policies)"
if [ -n "$fmt_diff" ]; then echo "not opa-fmt clean: $fmt_diff" >&2; exit 1; fi
"$GATEWAY_OPA_BINARY" check --strict policies
"$GATEWAY_OPA_BINARY" test policies
say "regal lint (the Rego linter; .regal/config.yaml)"
"$GATEWAY_REGAL_BINARY" lint policies

say "deployment files (compose schema, kubeconform, hadolint)"
bash "$ROOT/scripts/check_deploy.sh"

say "pytest (PostgreSQL)"
rm -rf artifacts/screenshots  # only this run's browser screenshots
set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
if compgen -G "artifacts/screenshots/*.png" >/dev/null; then
  say "browser screenshots in artifacts/screenshots/: $(ls artifacts/screenshots | tr '\n' ' ')"
fi
if [ "$status" -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi
[ "$status" -eq 0 ] || exit "$status"

# The API-level and black-box suites again on SQLite, the embedded default (tests/conftest.py:
# `--db sqlite`). Only for a whole run: with test paths given, the run above is the one asked for.
for arg in "$@"; do case "$arg" in -*) ;; *) exit 0 ;; esac; done
# Sync without its SIGKILL test (a worker process killed mid-sync, then another: about 85 s of
# emulator latency and lease expiry, alike on both databases), which runs on PostgreSQL above.
say "pytest (SQLite): mail, mailboxes, oauth, consent, audit, pages, push, webhooks, scheduler, compliance, kit, guard, accounts, crypto, sync (not its SIGKILL test), black-box, fail-closed, API docs"
"$VENV/bin/python" -m pytest --db sqlite "$@" tests/mail tests/mailboxes tests/oauth tests/consent tests/audit \
  tests/pages tests/push tests/webhooks tests/scheduler tests/compliance tests/kit tests/guard \
  tests/accounts tests/crypto \
  tests/sync --deselect tests/sync/test_workers.py::test_sigkill_mid_sync_then_another_worker_completes_it \
  tests/blackbox tests/test_fail_closed.py tests/test_api_docs.py
