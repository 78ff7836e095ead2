"""Input normalisation shared by both engines, and the embedded engine's strict JSON input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.policy.contract import PolicyEngineUnavailable
from gateway.policy.engines import EmbeddedEngine
from gateway.policy.engines import rego_input as ri
from gateway.policy.engines.revision import write_revision_module


def test_prune_nulls() -> None:
    doc = {"a": None, "b": {"c": None, "d": [None, {"e": None, "f": 1}]}, "g": [], "h": False}
    assert ri.prune_nulls(doc) == {"b": {"d": [None, {"f": 1}]}, "g": [], "h": False}


@pytest.fixture(scope="module")
def echo_engine(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedEngine:
    """A policy whose decision is its input: what the module received, read back."""
    policy_dir = tmp_path_factory.mktemp("echo")
    (policy_dir / "p.rego").write_text("package gateway.authz\n\ndecision := input\n")
    write_revision_module(policy_dir)
    return EmbeddedEngine(policy_dir)


def test_values_round_trip(echo_engine: EmbeddedEngine) -> None:
    """Strings needing escapes, int64 bounds, floats, nesting: what goes in comes out (OPA's
    compiler escapes and decodes strings)."""
    weird = 'é"\\\n\u2028 </script>'
    doc = {"s": weird, "i": -(2**63), "j": 2**63 - 1, "f": 1.5, "t": True,
           "l": [1, "a", [], {}], "o": {"k": {"z": 0}}, "tup": (1, 2), "n": None}
    expected = {k: v for k, v in doc.items() if k != "n"} | {"tup": [1, 2]}
    assert echo_engine.evaluate(doc) == expected


def test_null_members_are_dropped_before_evaluation(echo_engine: EmbeddedEngine) -> None:
    assert echo_engine.evaluate({"a": None, "b": {"c": None, "d": 1}}) == {"b": {"d": 1}}


def test_a_large_input_grows_the_module_memory(echo_engine: EmbeddedEngine) -> None:
    ids = [f"m-{n:07d}" for n in range(60_000)]  # ~700 KB of JSON, several Wasm pages
    assert echo_engine.evaluate({"ids": ids}) == {"ids": ids}
    assert echo_engine.evaluate({"x": 1}) == {"x": 1}


@pytest.mark.parametrize("bad", [
    {"x": {1, 2}}, {"x": dt.datetime(2024, 1, 1)}, {"x": float("nan")},
    {"x": float("inf")}, {"x": b"bytes"}, {"x": object()},
])
def test_only_json_values(echo_engine: EmbeddedEngine, bad: dict[str, object]) -> None:
    with pytest.raises(PolicyEngineUnavailable):
        echo_engine.evaluate(bad)
    assert echo_engine.evaluate({"after": "an error"}) == {"after": "an error"}


def test_a_policy_needing_host_builtins_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(
        'package gateway.authz\n\ndecision := {"allow": false, "t": time.now_ns()}\n')
    write_revision_module(tmp_path)
    with pytest.raises(PolicyEngineUnavailable, match="host built-ins"):
        EmbeddedEngine(tmp_path)
