"""The embedded engine reads rego-cpp's output through the C API (one JSON serialisation); the
answer must be exactly what regopy's own Output reading gives, for every table case."""

from __future__ import annotations

from pathlib import Path

import pytest

import gateway.policy.engines.embedded as embedded
from gateway.policy.contract import PolicyEngineUnavailable
from gateway.policy.engines import EmbeddedEngine
from gateway.policy.engines.table import TableCase


def test_native_output_reading_is_in_use() -> None:
    assert embedded._LIB is not None  # else the engine silently runs the slower path


def test_native_and_regopy_output_reading_agree(embedded_engine: EmbeddedEngine,
                                                table_cases: list[TableCase],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    native = [embedded_engine.evaluate(case.input) for case in table_cases]
    monkeypatch.setattr(embedded, "_LIB", None)
    through_regopy = [embedded_engine.evaluate(case.input) for case in table_cases]
    assert native == through_regopy
    assert all(isinstance(result, dict) and "allow" in result for result in native)


@pytest.mark.parametrize("value", [None, [], {}, [{}], [{"expressions": []}], {"expressions": 1}])
def test_odd_output_documents_are_undefined(value: object) -> None:
    assert embedded._first_expression(value) is None


def test_first_expression_of_a_result() -> None:
    assert embedded._first_expression({"expressions": [{"allow": True}, 2]}) == {"allow": True}
    assert embedded._first_expression([{"expressions": [3]}, {"expressions": [4]}]) == 3


def test_an_evaluation_error_is_unavailable_on_the_native_path(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(
        'package gateway.authz\n\n'
        'decision := {"allow": false, "reasons": [to_number(input.n)], "obligations": {}}\n')
    engine = EmbeddedEngine(tmp_path)
    assert engine.evaluate({"n": "1"}) == {"allow": False, "reasons": [1], "obligations": {}}
    with pytest.raises(PolicyEngineUnavailable, match="policy evaluation failed"):
        engine.decide({"n": "not a number"})
