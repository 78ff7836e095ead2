"""The embedded engine: decisions, revision, fail-closed errors, one Wasm instance per thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gateway.policy.contract import PolicyEngineUnavailable, PolicyRevisionMismatch
from gateway.policy.engines import EmbeddedEngine, build_engine, policy_revision
from gateway.policy.engines.revision import write_revision_module
from tests.policy.conftest import POLICY_DIR
from tests.support.decision_table import TableCase


def test_revision_is_the_policy_files_hash(embedded_engine: EmbeddedEngine) -> None:
    assert embedded_engine.revision == policy_revision(POLICY_DIR)
    assert embedded_engine.revision.startswith("sha256:")
    decision = embedded_engine.decide({})
    assert decision.revision == embedded_engine.revision
    assert decision.engine == "embedded"


def test_empty_input_is_denied(embedded_engine: EmbeddedEngine) -> None:
    decision = embedded_engine.decide({})
    assert decision.allow is False
    assert decision.reasons == ("action_unknown", "actor_invalid", "purpose_unknown")


def test_ping(embedded_engine: EmbeddedEngine) -> None:
    embedded_engine.ping()


def test_a_value_that_is_not_json_is_unavailable(embedded_engine: EmbeddedEngine,
                                                  table_cases: list[TableCase]) -> None:
    bad = dict(table_cases[0].input, now_ns=object())
    with pytest.raises(PolicyEngineUnavailable):
        embedded_engine.decide(bad)
    with pytest.raises(PolicyEngineUnavailable):
        embedded_engine.decide(dict(table_cases[0].input, now_ns=float("nan")))


def test_closed_engine_is_unavailable() -> None:
    engine = EmbeddedEngine(POLICY_DIR)
    engine.close()
    with pytest.raises(PolicyEngineUnavailable):
        engine.decide({})


def test_policies_that_do_not_compile_are_refused(tmp_path: Path) -> None:
    (tmp_path / "broken.rego").write_text("package gateway.authz\n\ndecision := {\n")
    with pytest.raises(PolicyEngineUnavailable):
        EmbeddedEngine(tmp_path)


def test_missing_policy_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        EmbeddedEngine(tmp_path / "nowhere")


def test_an_undefined_decision_is_a_revision_mismatch(tmp_path: Path) -> None:
    """Only a decision document naming the policy's revision is a decision: an undefined one is
    refused (503), not read as a deny."""
    (tmp_path / "p.rego").write_text(
        "package gateway.authz\n\n"
        'decision := {"allow": true, "revision": policy_revision} if input.yes == true\n')
    write_revision_module(tmp_path)
    engine = EmbeddedEngine(tmp_path)
    assert engine.decide({"yes": True}).allow is True
    with pytest.raises(PolicyRevisionMismatch) as refused:
        engine.decide({})
    assert (refused.value.expected, refused.value.received) == (engine.revision, None)


def test_factory_without_url_is_embedded() -> None:
    engine = build_engine(POLICY_DIR, None, 1.0)
    assert isinstance(engine, EmbeddedEngine)
    engine.close()


def test_threads_never_get_someone_elses_decision(embedded_engine: EmbeddedEngine,
                                                  table_cases: list[TableCase]) -> None:
    """A wasmtime Store must not be shared between threads; each thread has its own."""
    errors: list[str] = []
    start = threading.Barrier(8)

    def worker(offset: int) -> None:
        start.wait()
        for i in range(300):
            case = table_cases[(offset * 37 + i) % len(table_cases)]
            problem = case.mismatch(embedded_engine.decide(case.input))
            if problem:
                errors.append(f"{case.name}: {problem}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_an_echoed_input_string_comes_back_intact(embedded_engine: EmbeddedEngine,
                                                  table_cases: list[TableCase]) -> None:
    """The one input string the decision echoes (filter_operator = actor.id) is escaped by OPA's
    compiler, so a hostile id cannot forge obligations."""
    case = next(c for c in table_cases if c.name == "operator lists only their own requests")
    assert embedded_engine.decide(case.input).obligations == {"filter_operator": "op-bob"}
    for hostile in ['op-"x', 'op-", "redact": [], "z": "', "op\\", "op\n"]:
        forged = {**case.input, "actor": {**case.input["actor"], "id": hostile}}
        decision = embedded_engine.decide(forged)
        assert decision.allow is True
        assert decision.obligations == {"filter_operator": hostile}
