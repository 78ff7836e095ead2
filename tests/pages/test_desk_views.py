"""The access desk's view layer on the real database: an operator's requests by status and
grants (their own only, across mailboxes), the request form checked by the API's body model,
and what a grant covers (ids and counts, never content)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from gateway.accounts import service as accounts
from gateway.accounts.models import Tenant
from gateway.consent import service
from gateway.consent.models import ConsentRequest
from gateway.consent.schemas import GrantCreate, RequestCreate, RequestDecision
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.kit.errors import NotFound, ValidationFailed
from gateway.mailboxes.models import Mailbox
from gateway.pages.desk.views import RequestForm, coverage, message_rows, operator_grant, overview
from gateway.runtime import runtime_of
from tests.mail.factories import make_raw, store_message
from tests.support.world import TenantWorld


def second_operator(db: Database, world: TenantWorld) -> uuid.UUID:
    with db.transaction() as s:
        tenant = s.get(Tenant, world.tenant.id)
        assert tenant is not None
        return accounts.create_principal(s, tenant, "operator", "support-2").id


def ask(db: Database, crypto: CryptoService, world: TenantWorld, *, operator: uuid.UUID | None
        = None, **scope: list[str]) -> uuid.UUID:
    with db.transaction() as s:
        box = s.get(Mailbox, world.mailbox.id)
        assert box is not None
        made = service.create_request(
            s, crypto, box, operator or world.operator.principal.id,
            RequestCreate(justification="Customer asked for help with this thread", **scope),
            max_hours=24, ttl_hours=72)
        return made.id


def decide(db: Database, world: TenantWorld, request_id: uuid.UUID, approve: bool) -> None:
    with db.transaction() as s:
        box = s.get(Mailbox, world.mailbox.id)
        assert box is not None
        service.decide_request(s, box, str(request_id), RequestDecision(approve=approve),
                               max_hours=24)


@pytest.fixture
def crypto(client: TestClient) -> CryptoService:
    found: CryptoService = runtime_of(client.app).crypto
    return found


def test_overview_sorts_an_operators_own_requests_by_status(
        db: Database, crypto: CryptoService, tenant_a: TenantWorld,
        tenant_b: TenantWorld) -> None:
    pending = ask(db, crypto, tenant_a, message_ids=["m1"])
    approved = ask(db, crypto, tenant_a, thread_ids=["t1"])
    refused = ask(db, crypto, tenant_a, message_ids=["m2"])
    lapsed = ask(db, crypto, tenant_a, message_ids=["m3"])
    decide(db, tenant_a, approved, True)
    decide(db, tenant_a, refused, False)
    with db.transaction() as s:
        s.execute(update(ConsentRequest).where(ConsentRequest.id == lapsed)
                  .values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    someone_else = ask(db, crypto, tenant_a, operator=second_operator(db, tenant_a),
                       message_ids=["m4"])
    ask(db, crypto, tenant_b, message_ids=["m1"])

    with db.transaction() as s:
        seen = overview(s, crypto, tenant_a.tenant.id, tenant_a.operator.principal.id,
                        ("support",))
    ids = {status: [r.id for r in rows] for status, rows in seen.requests.items()}
    assert ids == {"pending": [pending], "approved": [approved], "refused": [refused],
                   "expired": [lapsed]}
    assert someone_else not in [i for rows in ids.values() for i in rows]
    assert seen.counts == {"pending": 1, "approved": 1, "refused": 1, "expired": 1}
    assert seen.requests["pending"][0].justification == (
        "Customer asked for help with this thread")
    [grant] = seen.grants
    assert (grant.thread_ids, grant.status) == (["t1"], "active")
    assert seen.requests["approved"][0].grant_id == grant.id


def test_group_grants_show_and_other_operators_grants_are_not_found(
        db: Database, tenant_a: TenantWorld, tenant_b: TenantWorld) -> None:
    colleague = second_operator(db, tenant_a)
    with db.transaction() as s:
        box = s.get(Mailbox, tenant_a.mailbox.id)
        assert box is not None
        by_group = service.create_grant(s, box, GrantCreate(
            operator_group="support", message_ids=["m1"]), max_hours=24)
        other = service.create_grant(s, box, GrantCreate(
            operator_id=colleague, message_ids=["m1"]), max_hours=24)
        mine = operator_grant(s, box, str(by_group.id), tenant_a.operator.principal.id,
                              ("support",))
        assert mine.id == by_group.id
        for raw in (str(other.id), "not-a-uuid", str(uuid.uuid4())):
            with pytest.raises(NotFound):
                operator_grant(s, box, raw, tenant_a.operator.principal.id, ("support",))
        with pytest.raises(NotFound):  # the group's grant, but not in this mailbox
            elsewhere = s.get(Mailbox, tenant_b.mailbox.id)
            assert elsewhere is not None
            operator_grant(s, elsewhere, str(by_group.id), tenant_a.operator.principal.id,
                           ("support",))
        seen = service.operator_grants(s, tenant_a.tenant.id, tenant_a.operator.principal.id,
                                       ())
        assert seen == []  # without the group, only grants naming the operator


def test_coverage_names_ids_and_counts_only(db: Database, crypto: CryptoService,
                                            tenant_a: TenantWorld) -> None:
    store_message(db, crypto, tenant_a.mailbox, "a1", "t9", make_raw("Secret", "body"))
    store_message(db, crypto, tenant_a.mailbox, "a2", "t9", make_raw("Re: Secret", "b"))
    with db.transaction() as s:
        box = s.get(Mailbox, tenant_a.mailbox.id)
        assert box is not None
        grant = service.create_grant(s, box, GrantCreate(
            operator_id=tenant_a.operator.principal.id, message_ids=["a1", "gone"],
            thread_ids=["t9", "t0"]), max_hours=24)
        items = coverage(s, grant)
    assert [(i.kind, i.id, i.stored) for i in items] == [
        ("message", "a1", 1), ("message", "gone", 0), ("thread", "t9", 2), ("thread", "t0", 0)]
    assert "Secret" not in repr(items)


def test_the_request_form_is_checked_by_the_apis_model() -> None:
    good = RequestForm.of({"message_ids": "m1, m2 m1", "thread_ids": "",
                           "justification": "  The customer asked us to look  ",
                           "requested_minutes": "90"}).body()
    assert (good.message_ids, good.justification, good.requested_minutes) == (
        ["m1", "m2"], "The customer asked us to look", 90)

    cases = {"requested_minutes": {"message_ids": "m1", "justification": "x" * 20,
                                   "requested_minutes": "ninety"},
             "justification": {"message_ids": "m1", "justification": "short"},
             "form": {"justification": "x" * 20},
             "message_ids": {"message_ids": "bad/id", "justification": "x" * 20}}
    for field_name, data in cases.items():
        form = RequestForm.of(data)
        with pytest.raises(ValidationFailed) as caught:
            form.body()
        assert field_name in form.with_errors(caught.value).errors, (field_name, form.errors)
        assert "bad/id" not in str(caught.value.extra)  # values are never echoed


def test_message_rows_label_what_the_view_holds() -> None:
    rows = message_rows({"subject": "Hi", "to": ["a@x", "b@x"], "label_ids": [],
                         "size_estimate": 10, "redacted": ["from"]})
    assert rows == [("Subject", "Hi"), ("To", "a@x, b@x"), ("Size (bytes)", "10")]
