#!/usr/bin/env bash
# After editing any policy file: generate policies/fast.rego from authz.rego (tools/fast_permit.py),
# write policies/revision.rego (the revision every decision carries, the hash of the other policy
# files) and compile policies/ to WebAssembly for the embedded engine
# (policies/compiled/decision.wasm and its stamp), with the pinned OPA. Commit the result:
# tests/policy/test_fast_permit.py and tests/policy/test_compiled_policy.py fail while any is
# stale, and the gateway refuses to start on a revision.rego that does not match the files beside
# it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
ensure_venv
ensure_opa
"$VENV/bin/python" tools/fast_permit.py policies
"$VENV/bin/python" - <<'PY'
from pathlib import Path
from gateway.policy.engines.opa_binary import find_opa_binary
from gateway.policy.engines.revision import write_revision_module
from gateway.policy.engines.wasm_compile import write_compiled
opa = find_opa_binary()
assert opa is not None, "no OPA binary"
print(f"policy revision {write_revision_module(Path('policies'))}")
print(f"wrote {write_compiled(Path('policies'), opa)}")
PY
