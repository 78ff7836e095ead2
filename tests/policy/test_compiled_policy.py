"""The embedded engine's compiled policy (policies/compiled/): fresh, and never stale in use."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.policy.contract import PolicyEngineUnavailable
from gateway.policy.engines import EmbeddedEngine, policy_revision
from gateway.policy.engines import wasm_compile as wc
from gateway.policy.engines.revision import (
    declared_revision,
    load_policy_files,
    revision_of,
    write_revision_module,
)
from tests.policy.conftest import POLICY_DIR
from tests.support.decision_table import TableCase
from tools.fast_permit import generate as generate_fast_permit


def test_the_committed_module_is_what_opa_compiles_from_the_current_files(
        opa_binary: Path) -> None:
    """Fails after a policy edit until `scripts/compile_policy.sh` is run and committed."""
    stamp = wc.read_stamp(POLICY_DIR)
    assert stamp is not None, "policies/compiled/decision.stamp is missing"
    assert stamp.revision == policy_revision(POLICY_DIR), "stale: run scripts/compile_policy.sh"
    assert stamp.opa_version == wc.opa_version(opa_binary)
    committed = (POLICY_DIR / wc.COMPILED_DIR / wc.ARTIFACT).read_bytes()
    assert wc.compile_wasm(opa_binary, POLICY_DIR) == committed


def test_the_committed_module_is_used_without_an_opa_binary(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wc, "find_opa_binary", lambda: None)
    assert EmbeddedEngine(POLICY_DIR).decide({}).allow is False


@pytest.fixture()
def edited_policies(tmp_path: Path) -> Path:
    """A copy of policies/ (with its compiled module) where one rule changed, and fast.rego and
    revision.rego rewritten for it (what scripts/compile_policy.sh does first)."""
    copy = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, copy)
    authz = copy / "authz.rego"
    source = authz.read_text()
    edited = source.replace(
        'owner_ok if {\n', 'owner_ok if {\n\tinput.resource.mailbox == "mb-other"\n')
    assert edited != source, "the rule this fixture edits is gone: pick another"
    authz.write_text(edited)
    (copy / "fast.rego").write_text(generate_fast_permit(copy))
    write_revision_module(copy)
    return copy


def test_the_committed_revision_module_names_the_files_revision() -> None:
    """Fails after a policy edit until `scripts/compile_policy.sh` is run and committed."""
    files = load_policy_files(POLICY_DIR)
    assert declared_revision(files) == revision_of(files) == policy_revision(POLICY_DIR)


def test_edited_policies_with_a_stale_revision_module_are_refused(tmp_path: Path) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, copy)
    (copy / "authz.rego").write_text((copy / "authz.rego").read_text() + "\nextra := true\n")
    with pytest.raises(PolicyEngineUnavailable, match=r"revision\.rego declares .* run "
                                                      r"scripts/compile_policy\.sh"):
        EmbeddedEngine(copy)
    (copy / "revision.rego").unlink()
    with pytest.raises(PolicyEngineUnavailable, match="is missing"):
        EmbeddedEngine(copy)


def test_edited_policies_are_compiled_afresh(edited_policies: Path, opa_binary: Path,
                                             table_cases: list[TableCase]) -> None:
    case = next(c for c in table_cases if c.allow and c.input["actor"]["kind"] == "end_user")
    assert EmbeddedEngine(POLICY_DIR).decide(case.input).allow is True
    engine = EmbeddedEngine(edited_policies)  # the stale committed module is not used
    assert engine.revision == policy_revision(edited_policies) != policy_revision(POLICY_DIR)
    assert engine.decide(case.input).allow is False


def test_edited_policies_without_an_opa_binary_are_refused(
        edited_policies: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wc, "find_opa_binary", lambda: None)
    with pytest.raises(PolicyEngineUnavailable, match=r"compile_policy\.sh"):
        EmbeddedEngine(edited_policies)


def test_a_module_that_does_not_match_its_stamp_is_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, copy)
    artifact = copy / wc.COMPILED_DIR / wc.ARTIFACT
    artifact.write_bytes(artifact.read_bytes()[:-1] + b"\0")
    monkeypatch.setattr(wc, "find_opa_binary", lambda: None)
    with pytest.raises(PolicyEngineUnavailable):
        EmbeddedEngine(copy)


def test_stamp_round_trip() -> None:
    stamp = wc.Stamp("sha256:abc", "1.22.2", "00ff")
    assert wc.Stamp.parse(stamp.render()) == stamp
    assert wc.Stamp.parse("revision x\n") is None
