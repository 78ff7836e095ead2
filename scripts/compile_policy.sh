#!/usr/bin/env bash
# Compile policies/ to WebAssembly for the embedded engine (policies/compiled/decision.wasm and
# its stamp), with the pinned OPA. Run after editing any policy file, and commit the result:
# tests/policy/test_compiled_policy.py fails while the committed module is stale.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
ensure_venv
ensure_opa
"$VENV/bin/python" - <<'PY'
from pathlib import Path
from gateway.policy.engines.opa_process import find_opa_binary
from gateway.policy.engines.wasm_compile import write_compiled
opa = find_opa_binary()
assert opa is not None, "no OPA binary"
print(f"wrote {write_compiled(Path('policies'), opa)}")
PY
