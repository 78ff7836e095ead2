"""The fast regopy input builder is equivalent to regopy's own, strict, and drops nulls."""

from __future__ import annotations

import datetime as dt

import pytest
import regopy

from gateway.policy.engines import EmbeddedEngine
from gateway.policy.engines import rego_input as ri
from gateway.policy.engines.table import TableCase
from tests.policy.conftest import POLICY_DIR


def test_prune_nulls() -> None:
    doc = {"a": None, "b": {"c": None, "d": [None, {"e": None, "f": 1}]}, "g": [], "h": False}
    assert ri.prune_nulls(doc) == {"b": {"d": [None, {"f": 1}]}, "g": [], "h": False}


def evaluate(rego_input: object, query: str = "x := input") -> str:
    interpreter = regopy.Interpreter()
    interpreter.set_input(rego_input)
    return str(interpreter.query(query))


def test_same_document_as_regopy_input(table_cases: list[TableCase]) -> None:
    for case in table_cases[:40]:
        ours = evaluate(ri.to_rego_input(case.input))
        theirs = evaluate(regopy.Input(ri.prune_nulls(case.input)))
        assert ours == theirs, case.name


def test_values_round_trip() -> None:
    """Checked inside Rego. regopy neither escapes the strings it outputs nor decodes escapes in
    data or literals, so strings needing escapes are compared input to input only (as the policy
    does; data.json holds plain ASCII, see test_vocabulary_sync)."""
    weird = "é\"\\\n"
    doc = {"s": weird, "s2": weird, "i": -(2**63), "j": 2**63 - 1, "f": 1.5, "t": True,
           "l": [1, "a", [], {}], "o": {"k": {"z": 0}}, "tup": (1, 2), "n": None}
    interpreter = regopy.Interpreter()
    interpreter.set_input(ri.to_rego_input(doc))
    interpreter.add_data({"b": {"i": -(2**63), "j": 2**63 - 1, "f": 1.5, "t": True,
                                "l": [1, "a", [], {}], "o": {"k": {"z": 0}}, "tup": [1, 2]}})
    true = '{"expressions":[true]}'
    assert str(interpreter.query("input.s == input.s2")) == true
    assert str(interpreter.query("count(input.s)")) == '{"expressions":[4]}'
    for key in ("i", "j", "f", "t", "l", "o", "tup"):
        assert str(interpreter.query(f"input.{key} == data.b.{key}")) == true, key


@pytest.mark.parametrize("bad", [
    {"x": {1, 2}}, {"x": dt.datetime(2024, 1, 1)}, {"x": 2**63}, {"x": float("nan")},
    {"x": float("inf")}, {1: "a"}, {"x": b"bytes"}, {"x": object()},
])
def test_only_json_values(bad: dict[object, object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        ri.to_rego_input(bad)


def test_the_slow_path_decides_the_same(monkeypatch: pytest.MonkeyPatch,
                                        table_cases: list[TableCase]) -> None:
    fast = EmbeddedEngine(POLICY_DIR)
    expected = [fast.decide(c.input) for c in table_cases]
    monkeypatch.setattr(ri, "_LIB", None)
    slow = EmbeddedEngine(POLICY_DIR)
    assert [slow.decide(c.input) for c in table_cases] == expected
    with pytest.raises((TypeError, ValueError)):
        ri.to_rego_input({"x": {1}})
