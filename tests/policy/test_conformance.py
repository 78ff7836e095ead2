"""The decision table through both engines and through `opa test`: any divergence fails.

Each case runs through the embedded engine (Wasm) and a real OPA server (`opa run --server`
on the same policy files); both must give the expected decision and the *same* decision
(allow, reasons, obligations, revision).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gateway.policy.engines import EmbeddedEngine, OpaServerEngine
from tests.policy.conftest import POLICY_DIR, TABLE
from tests.support.decision_table import TableCase, load_decision_table

CASES = load_decision_table(TABLE)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 60
    assert sum(c.allow for c in CASES) >= 20
    assert sum(not c.allow for c in CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_embedded_engine_decides_as_the_table_says(
        case: TableCase, embedded_engine: EmbeddedEngine) -> None:
    decision = embedded_engine.decide(case.input)
    assert case.mismatch(decision) is None, case.mismatch(decision)
    assert decision.revision == embedded_engine.revision


@pytest.mark.opa
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_opa_server_decides_as_the_table_says(
        case: TableCase, opa_engine: OpaServerEngine) -> None:
    decision = opa_engine.decide(case.input)
    assert case.mismatch(decision) is None, case.mismatch(decision)
    assert decision.revision == opa_engine.revision


@pytest.mark.opa
def test_both_engines_give_identical_decisions(
        embedded_engine: EmbeddedEngine, opa_engine: OpaServerEngine) -> None:
    assert embedded_engine.revision == opa_engine.revision
    divergent = []
    for case in CASES:
        ours, theirs = embedded_engine.decide(case.input), opa_engine.decide(case.input)
        if (ours.allow, ours.reasons, dict(ours.obligations)) != (
                theirs.allow, theirs.reasons, dict(theirs.obligations)):
            divergent.append((case.name, ours, theirs))
    assert divergent == []


@pytest.mark.opa
def test_opa_test_runs_the_table_and_the_rego_unit_tests(opa_binary: Path) -> None:
    result = subprocess.run(
        [str(opa_binary), "test", str(POLICY_DIR), "--format", "json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    import json

    results = json.loads(result.stdout)
    names = {r["name"] for r in results}
    assert "test_decision_table" in names
    assert all(not r.get("fail") and not r.get("error") for r in results)
    assert len(results) >= 40


@pytest.mark.opa
def test_policies_are_fmt_and_strict_check_clean(opa_binary: Path) -> None:
    fmt = subprocess.run([str(opa_binary), "fmt", "--list", str(POLICY_DIR)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert fmt.returncode == 0 and fmt.stdout.strip() == "", fmt.stdout + fmt.stderr
    check = subprocess.run([str(opa_binary), "check", "--strict", str(POLICY_DIR)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
