"""policies/fast.rego is generated from authz.rego by tools/fast_permit.py, never written by hand:
the committed file is exactly the tool's output (scripts/compile_policy.sh rewrites it). That
fast_permit decides exactly as permit does is checked by policies/tests/decision_table_test.rego."""

from __future__ import annotations

import re

from tests.policy.conftest import POLICY_DIR
from tools.fast_permit import FIRST_BRANCH, generate


def test_fast_rego_is_the_generated_file() -> None:
    committed = (POLICY_DIR / "fast.rego").read_text(encoding="utf-8")
    assert committed == generate(POLICY_DIR), (
        "policies/fast.rego is stale or edited by hand: run scripts/compile_policy.sh")


def test_the_usual_permit_is_written_out_without_the_named_helpers() -> None:
    body = generate(POLICY_DIR).split("fast_permit := reason if {", 1)[1].split("\n}\n", 1)[0]
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    # One-body rules and the non_empty_string helper are written out, never referenced.
    for helper in ("common_ok", "capable", "actor_id_set", "actor_tenant_set", "non_empty_string"):
        assert not any(re.search(rf"\b{helper}\b", line) for line in lines), helper
    assert "is_string(input.actor.id)" in lines
    # Rules of more branches are referenced as their generated copies, but for FIRST_BRANCH.
    assert "fast_resource_ok" in lines
    assert not any(re.fullmatch(rf"{name}", line) for name in FIRST_BRANCH for line in lines)
