"""The review console's view layer on the real database: the search form builds the API's
filter (every bad field named at once), an entry is found in the caller's tenant only, and an
entry's chain segment is checked by the log's own verifier, another tenant's entry never named."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from gateway.audit.chain import CheckpointPolicy
from gateway.audit.models import AuditEntry
from gateway.audit.signing import AuditSigner, TrustedKeys
from gateway.audit.writer import OperationLog
from gateway.kit.db import Database
from gateway.kit.errors import NotFound, ValidationFailed
from gateway.pages.console.search import SearchForm
from gateway.pages.console.views import (
    JustificationForm,
    chain_position,
    check_entry,
    entry_in_tenant,
)
from tests.audit.conftest import append_each, as_dba, make_record, rows_by_position, single_chain
from tests.support.world import TenantWorld

TENANT = uuid.uuid4()


def test_the_search_form_builds_the_apis_filter() -> None:
    mailbox = uuid.uuid4()
    form = SearchForm.of({"actor_id": " op-1 ", "mailbox_id": str(mailbox), "decision": "deny",
                          "since": "2026-12-07T09:30", "until": "2026-12-08T00:00+01:00",
                          "flagged": "true", "page": "ignored"})
    built = form.build(TENANT)
    assert (built.tenant_id, built.mailbox_id, built.actor_id, built.decision) == (
        TENANT, mailbox, "op-1", "deny")
    assert built.since == datetime(2026, 12, 7, 9, 30, tzinfo=UTC)  # no zone: UTC
    assert built.until == datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
    assert built.flagged is True
    assert form.query_string(cursor="abc") == (
        f"actor_id=op-1&mailbox_id={mailbox}&decision=deny&since=2026-12-07T09%3A30"
        "&until=2026-12-08T00%3A00%2B01%3A00&flagged=true&cursor=abc")
    assert SearchForm.of({}).build(TENANT) == type(built)(tenant_id=TENANT)


def test_every_bad_field_is_named() -> None:
    form = SearchForm.of({"actor_kind": "admin", "action": "mail.everything", "decision": "maybe",
                          "mailbox_id": "nope", "since": "yesterday", "flagged": "yes",
                          "operation": "x" * 65})
    with pytest.raises(ValidationFailed) as caught:
        form.build(TENANT)
    assert set(form.errors) == {"actor_kind", "action", "decision", "mailbox_id", "since",
                                "flagged", "operation"}
    assert caught.value.status == 422
    backwards = SearchForm.of({"since": "2026-12-08T00:00", "until": "2026-12-07T00:00"})
    with pytest.raises(ValidationFailed):
        backwards.build(TENANT)
    assert set(backwards.errors) == {"until"}


def test_the_justification_form_is_checked_by_the_apis_model() -> None:
    good = JustificationForm.of({"case_ref": "SEC-2026-7", "reason": "Phishing report on mail",
                                 "operator_group": "support", "message_ids": "m1 m2"},
                                "security").body()
    assert (good.kind, good.case_ref, good.message_ids, good.expires_in_minutes) == (
        "security", "SEC-2026-7", ["m1", "m2"], 1440)
    form = JustificationForm.of({"case_ref": "a case about alice", "reason": "short",
                                 "expires_in_minutes": "soon"}, "legal")
    with pytest.raises(ValidationFailed) as caught:
        form.body()
    assert "expires_in_minutes" in form.with_errors(caught.value).errors
    form.expires_in_minutes = "60"
    with pytest.raises(ValidationFailed) as caught:
        form.body()
    assert {"case_ref", "reason"} <= set(form.with_errors(caught.value).errors)


@pytest.fixture
def signer() -> AuditSigner:
    return AuditSigner.generate()


@pytest.fixture
def chain(db: Database, signer: AuditSigner, tenant_a: TenantWorld,
          tenant_b: TenantWorld) -> list[AuditEntry]:
    """Eight entries in chain 0, checkpoints at 1, 4 and 7; position 2 is tenant B's."""
    single_chain(db)
    oplog = OperationLog(checkpoints=CheckpointPolicy(signer, every=3, seconds=3600))
    owners = [tenant_a, tenant_b, *[tenant_a] * 6]
    append_each(db, oplog, [make_record(tenant_id=w.tenant.id, request_id=f"req-{i}")
                            for i, w in enumerate(owners)])
    ids = [uuid.UUID(str(row.id)) for row in rows_by_position(db)]
    with db.transaction() as s:
        rows = {e.id: e for e in s.scalars(select(AuditEntry).where(AuditEntry.id.in_(ids)))}
        s.expunge_all()
    return [rows[i] for i in ids]


def stored_id(db: Database, entry: AuditEntry) -> object:
    """The id as the raw SQL of `as_dba` binds it (SQLite stores a UUID as 32 hex digits)."""
    return entry.id.hex if db.engine.dialect.name == "sqlite" else entry.id


def test_an_entry_is_found_in_its_tenant_only(db: Database, chain: list[AuditEntry],
                                              tenant_a: TenantWorld) -> None:
    with db.transaction() as s:
        assert entry_in_tenant(s, tenant_a.tenant.id, str(chain[0].id)).seq == 1
        for raw in (str(chain[1].id), "not-an-id", str(uuid.uuid4())):
            with pytest.raises(NotFound):
                entry_in_tenant(s, tenant_a.tenant.id, raw)


def test_position_names_the_checkpoint_that_signs_it(db: Database,
                                                      chain: list[AuditEntry]) -> None:
    with db.transaction() as s:
        second = chain_position(s, chain[1])
        last = chain_position(s, chain[7])
    assert (second.shard, second.seq, second.chained) == (0, 2, True)
    assert second.checkpoint is not None and second.checkpoint.seq == 4
    assert second.entry_hash == chain[1].entry_hash.hex()  # type: ignore[union-attr]
    assert last.seq == 8 and last.checkpoint is None  # the unsigned tail


def test_an_entrys_segment_is_verified_and_tampering_named(
        db: Database, chain: list[AuditEntry], signer: AuditSigner) -> None:
    trusted = TrustedKeys([signer.private_key.public_key()])
    with db.transaction() as s:
        assert check_entry(s, trusted, chain[2]).state == "intact"
    as_dba(db, "UPDATE audit_entries SET actor_id = 'someone-else' WHERE id = :id",
           {"id": stored_id(db, chain[1])})  # tenant B's entry, the predecessor of chain[2]
    with db.transaction() as s:
        seen = check_entry(s, trusted, chain[2])
    assert seen.state == "segment_problem"
    assert [(p["seq"], p["kind"], p["entry_id"]) for p in seen.problems] == [
        (2, "altered", None)]  # another tenant's entry is not named
    as_dba(db, "UPDATE audit_entries SET decision = 'deny' WHERE id = :id",
           {"id": stored_id(db, chain[4])})
    with db.transaction() as s:
        own = check_entry(s, trusted, chain[4])
    assert own.state == "problem"
    assert {"seq": 5, "kind": "altered", "entry_id": str(chain[4].id)}.items() <= (
        own.problems[0].items())
