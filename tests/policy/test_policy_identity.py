"""Every decision proves it came from our policy, black-box: an OPA server put in the sidecar's
place (a permit-all policy, or another revision of ours) is refused from its first answer with
503 `policy_revision_mismatch`, the refusal is in the operation log, and nothing is served; the
embedded engine refuses a compiled module of other policies the same way."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.app import create_app
from gateway.audit.models import AuditEntry
from gateway.kit.db import Database
from gateway.policy.contract import PolicyRevisionMismatch
from gateway.policy.engines import EmbeddedEngine, OpaServerEngine, policy_revision
from gateway.policy.engines import wasm_compile as wc
from gateway.policy.engines.revision import write_revision_module
from gateway.runtime import runtime_of
from gateway.settings import Settings
from tests.mail.factories import make_raw, store_message
from tests.policy.conftest import POLICY_DIR
from tests.support.decision_table import TableCase
from tests.support.opa_process import OpaServerProcess
from tests.support.world import TenantWorld

pytestmark = pytest.mark.opa

CANARY = "a body only the genuine policy guards"

PERMIT_ALL = ('package gateway.authz\n\n'
              'decision := {"allow": true, "reasons": ["allow_owner"], "obligations": {}}\n')


def permit_all_dir(root: Path) -> Path:
    root.mkdir()
    (root / "authz.rego").write_text(PERMIT_ALL)
    return root


def other_revision_dir(root: Path) -> Path:
    """Our policies with one rule changed (the owner check dropped) and revision.rego rewritten
    for them, as scripts/compile_policy.sh would: a well-formed policy of another revision."""
    shutil.copytree(POLICY_DIR, root, ignore=shutil.ignore_patterns("tests", "compiled"))
    authz = root / "authz.rego"
    source = authz.read_text()
    edited = source.replace("owner_ok if {\n", "owner_ok if {\n\ttrue\n} else if {\n", 1)
    assert edited != source
    authz.write_text(edited)
    write_revision_module(root)
    return root


def refusals(db: Database, tenant: TenantWorld) -> list[AuditEntry]:
    with db.transaction() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.tenant_id == tenant.tenant.id)
                         .order_by(AuditEntry.occurred_at)).all()
        return [r for r in rows if "policy_revision_mismatch" in r.reasons]


def test_a_permit_all_server_in_the_sidecars_place_is_refused_from_the_first_request(
        settings: Settings, opa_binary: Path, db: Database, tenant_a: TenantWorld,
        tmp_path: Path) -> None:
    genuine = OpaServerProcess(opa_binary, POLICY_DIR)
    url = genuine.start()
    impostor = OpaServerProcess(opa_binary, permit_all_dir(tmp_path / "permit-all"),
                                port=genuine.port)
    try:
        app = create_app(settings.model_copy(update={"policy_engine_url": url}))
        with TestClient(app, raise_server_exceptions=False) as client:
            store_message(db, runtime_of(app).crypto, tenant_a.mailbox, "m1", "t1",
                          make_raw("Quarterly", CANARY), ["INBOX"])
            content = f"/v1/mailboxes/{tenant_a.mailbox.id}/messages/m1/content"
            operator = tenant_a.operator.headers("support")  # no consent grant
            advertising = tenant_a.crm.headers("advertising")
            assert client.get(content, headers=operator).status_code == 403
            assert client.get(content, headers=advertising).status_code == 403
            assert client.get(content, headers=tenant_a.crm.headers()).status_code == 200

            genuine.stop()
            impostor.start()
            for headers in (operator, advertising, tenant_a.crm.headers()):
                refused = client.get(content, headers=headers)
                assert refused.status_code == 503
                assert refused.headers["content-type"].startswith("application/problem+json")
                assert refused.json()["code"] == "policy_revision_mismatch"
                assert CANARY not in refused.text

        entries = refusals(db, tenant_a)
        assert [(e.decision, e.actor_id, e.purpose) for e in entries] == [
            ("error", tenant_a.operator.id, "support"),
            ("error", tenant_a.crm.id, "advertising"),
            ("error", tenant_a.crm.id, "user_facing")]
        assert all(e.policy_revision == "mismatch" and e.detail["received_revision"] == ""
                   and e.mailbox_id == tenant_a.mailbox.id for e in entries)
        with db.transaction() as s:
            allowed = s.scalars(select(AuditEntry).where(
                AuditEntry.tenant_id == tenant_a.tenant.id,
                AuditEntry.decision == "allow")).all()
        assert len(allowed) == 1  # the genuine CRM read only
    finally:
        impostor.stop()
        genuine.stop()


def test_a_server_running_another_revision_is_refused_from_its_first_answer(
        opa_binary: Path, tmp_path: Path, table_cases: list[TableCase]) -> None:
    """Not a permit-all: our own policies, edited and with their own revision.rego. The engine
    checks the server's modules only every 30 s; the revision check refuses at once."""
    other = other_revision_dir(tmp_path / "other")
    denied = next(c for c in table_cases if not c.allow)
    genuine = OpaServerProcess(opa_binary, POLICY_DIR)
    genuine.start()
    impostor = OpaServerProcess(opa_binary, other, port=genuine.port)
    engine = OpaServerEngine(genuine.url, POLICY_DIR, timeout=2.0)
    try:
        assert engine.decide(denied.input).allow is False
        genuine.stop()
        impostor.start()
        with pytest.raises(PolicyRevisionMismatch) as refused:
            engine.decide(denied.input)
        assert refused.value.received == policy_revision(other) != engine.revision
        assert refused.value.expected == policy_revision(POLICY_DIR)
        with pytest.raises(PolicyRevisionMismatch):  # and on every call after it
            engine.decide(denied.input)
    finally:
        engine.close()
        impostor.stop()
        genuine.stop()


def test_every_decision_of_both_engines_carries_the_policy_revision(
        embedded_engine: EmbeddedEngine, opa_engine: OpaServerEngine,
        table_cases: list[TableCase]) -> None:
    expected = policy_revision(POLICY_DIR)
    for engine in (embedded_engine, opa_engine):
        for case in table_cases:
            assert engine.evaluate(case.input)["revision"] == expected, (engine.name, case.name)
            assert engine.decide(case.input).revision == expected


def test_the_embedded_engine_refuses_a_replaced_compiled_module(
        opa_binary: Path, tmp_path: Path, table_cases: list[TableCase],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """policies/compiled/decision.wasm replaced by a module compiled from other policies, with a
    stamp forged to name our revision and the new module's hash: every decision is refused."""
    copy = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, copy)
    module = wc.compile_wasm(opa_binary, other_revision_dir(tmp_path / "other"))
    (copy / wc.COMPILED_DIR / wc.ARTIFACT).write_bytes(module)
    stamp = wc.Stamp(policy_revision(copy), wc.opa_version(opa_binary),
                     hashlib.sha256(module).hexdigest())
    (copy / wc.COMPILED_DIR / wc.STAMP).write_text(stamp.render())
    monkeypatch.setattr(wc, "find_opa_binary", lambda: None)  # the committed module is used
    engine = EmbeddedEngine(copy)
    for case in table_cases[:5]:
        with pytest.raises(PolicyRevisionMismatch):
            engine.decide(case.input)
