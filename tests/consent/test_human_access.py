"""Limited Use rule 6, black-box: no human reads mail without the owner's consent for those
specific messages; grants expire and can be revoked; the owner sees every human access."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from gateway.consent.models import ConsentGrant
from gateway.kit.db import Database
from gateway.runtime import runtime_of
from tests.mail.factories import make_raw, store_message
from tests.support.world import TenantWorld

SECRET_SUBJECT = "Acquisition terms draft"
SECRET_BODY = "The price we can accept is 4.2M."


@pytest.fixture
def mail(client: TestClient, db: Database, tenant_a: TenantWorld) -> TenantWorld:
    crypto = runtime_of(client.app).crypto
    store_message(db, crypto, tenant_a.mailbox, "18c0a1", "t100",
                  make_raw(SECRET_SUBJECT, SECRET_BODY))
    store_message(db, crypto, tenant_a.mailbox, "18c0a2", "t100", make_raw("Re: terms", "ok"))
    store_message(db, crypto, tenant_a.mailbox, "18c0b1", "t200", make_raw("Lunch?", "noon"))
    return tenant_a


def url(world: TenantWorld, suffix: str = "") -> str:
    return f"/v1/mailboxes/{world.mailbox.id}{suffix}"


def grant(client: TestClient, world: TenantWorld, **body: object) -> dict:
    body.setdefault("operator_id", world.operator.id)
    response = client.post(url(world, "/consent/grants"), json=body,
                           headers=world.end_user.headers("consent_management"))
    assert response.status_code == 201, response.text
    return response.json()


def read_content(client: TestClient, world: TenantWorld, message_id: str,
                 purpose: str = "support") -> object:
    return client.get(url(world, f"/messages/{message_id}/content"),
                      headers=world.operator.headers(purpose))


@pytest.mark.clause("lu.human_reading", "lu.human_reading.consent")
def test_operator_needs_a_grant_for_that_message(client: TestClient, mail: TenantWorld) -> None:
    denied = read_content(client, mail, "18c0a1")
    assert denied.status_code == 403
    assert "consent_required" in denied.json()["reasons"]
    assert SECRET_BODY not in denied.text

    grant(client, mail, message_ids=["18c0a1"], expires_in_minutes=30)
    allowed = read_content(client, mail, "18c0a1")
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["text"].strip() == SECRET_BODY
    assert allowed.json()["subject"] == SECRET_SUBJECT

    other = read_content(client, mail, "18c0b1")
    assert other.status_code == 403


def test_thread_grant_covers_its_messages_only(client: TestClient, mail: TenantWorld) -> None:
    grant(client, mail, thread_ids=["t100"])
    assert read_content(client, mail, "18c0a1").status_code == 200
    assert read_content(client, mail, "18c0a2").status_code == 200
    assert read_content(client, mail, "18c0b1").status_code == 403


def test_group_grant_and_other_operators(client: TestClient, mail: TenantWorld) -> None:
    grant(client, mail, operator_id=None, operator_group="support", message_ids=["18c0a1"])
    assert read_content(client, mail, "18c0a1").status_code == 200


@pytest.mark.clause("lu.human_reading.consent")
def test_revoked_and_expired_grants_stop_working(client: TestClient, db: Database,
                                                 mail: TenantWorld) -> None:
    created = grant(client, mail, message_ids=["18c0a1"])
    assert read_content(client, mail, "18c0a1").status_code == 200
    revoked = client.delete(url(mail, f"/consent/grants/{created['id']}"),
                            headers=mail.end_user.headers("consent_management"))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    after = read_content(client, mail, "18c0a1")
    assert after.status_code == 403
    assert "grant_revoked" in after.json()["reasons"]

    second = grant(client, mail, message_ids=["18c0a1"])
    with db.transaction() as s:
        s.execute(update(ConsentGrant).where(ConsentGrant.id == uuid.UUID(second["id"])).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    expired = read_content(client, mail, "18c0a1")
    assert expired.status_code == 403
    assert "grant_expired" in expired.json()["reasons"]


def test_operator_metadata_without_grant_is_redacted(client: TestClient,
                                                     mail: TenantWorld) -> None:
    response = client.get(url(mail, "/messages/18c0a1"), headers=mail.operator.headers("support"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "18c0a1" and body["thread_id"] == "t100"
    assert "subject" not in body and "from" not in body and "snippet" not in body
    assert "subject" in body["redacted"]
    assert SECRET_SUBJECT not in response.text


def test_grants_are_bounded_and_only_owners_give_them(client: TestClient,
                                                      mail: TenantWorld) -> None:
    too_long = client.post(url(mail, "/consent/grants"), json={
        "operator_id": mail.operator.id, "message_ids": ["18c0a1"], "expires_in_minutes": 600},
        headers=mail.end_user.headers("consent_management"))
    assert too_long.status_code == 422 and too_long.json()["code"] == "grant_too_long"
    by_operator = client.post(url(mail, "/consent/grants"), json={
        "operator_id": mail.operator.id, "message_ids": ["18c0a1"]},
        headers=mail.operator.headers("consent_management"))
    assert by_operator.status_code == 403
    by_other_user = client.post(url(mail, "/consent/grants"), json={
        "operator_id": mail.operator.id, "message_ids": ["18c0a1"]},
        headers=mail.other_user.headers("consent_management"))
    assert by_other_user.status_code == 404
    assert by_other_user.json()["code"] == "mailbox_not_found"
    empty = client.post(url(mail, "/consent/grants"), json={"operator_id": mail.operator.id},
                        headers=mail.end_user.headers("consent_management"))
    assert empty.status_code == 422 and empty.json()["code"] == "validation_failed"
    malformed = client.post(url(mail, "/consent/grants"), content=b"{not json",
                            headers={**mail.end_user.headers("consent_management"),
                                     "Content-Type": "application/json"})
    assert malformed.status_code == 422
    assert malformed.headers["content-type"].startswith("application/problem+json")


def test_request_approve_flow_and_owner_overview(client: TestClient, mail: TenantWorld) -> None:
    created = client.post(url(mail, "/consent/requests"), json={
        "message_ids": ["18c0b1"], "justification": "Customer reported a bounce on this mail",
        "requested_minutes": 20}, headers=mail.operator.headers("consent_management"))
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "pending"
    assert read_content(client, mail, "18c0b1").status_code == 403

    decided = client.post(url(mail, f"/consent/requests/{created.json()['id']}/decision"),
                          json={"approve": True},
                          headers=mail.end_user.headers("consent_management"))
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved" and decided.json()["grant_id"]
    assert read_content(client, mail, "18c0b1").status_code == 200

    again = client.post(url(mail, f"/consent/requests/{created.json()['id']}/decision"),
                        json={"approve": False},
                        headers=mail.end_user.headers("consent_management"))
    assert again.status_code == 409 and again.json()["code"] == "request_approved"

    overview = client.get(url(mail, "/consent"), headers=mail.end_user.headers(
        "consent_management")).json()
    assert [g["status"] for g in overview["grants"]] == ["active"]
    assert [r["status"] for r in overview["requests"]] == ["approved"]
    accesses = overview["human_accesses"]
    assert {a["decision"] for a in accesses} == {"allow", "deny"}
    assert all(a["operator_id"] == mail.operator.id for a in accesses)
    assert SECRET_BODY not in str(overview)


def test_refused_request_grants_nothing(client: TestClient, mail: TenantWorld) -> None:
    created = client.post(url(mail, "/consent/requests"), json={
        "thread_ids": ["t100"], "justification": "Checking a delivery complaint please"},
        headers=mail.operator.headers("consent_management")).json()
    refused = client.post(url(mail, f"/consent/requests/{created['id']}/decision"),
                          json={"approve": False},
                          headers=mail.end_user.headers("consent_management"))
    assert refused.json()["status"] == "refused"
    assert read_content(client, mail, "18c0a1").status_code == 403


def test_a_live_grant_is_found_behind_many_lapsed_ones(client: TestClient, db: Database,
                                                       mail: TenantWorld) -> None:
    """A long-served mailbox accumulates grants; an old, still-live one must not be lost
    behind hundreds of newer lapsed grants (nor would any lapsed one allow)."""
    grant(client, mail, message_ids=["18c0a1"], expires_in_minutes=120)
    past = datetime.now(UTC) - timedelta(hours=1)
    with db.transaction() as session:
        tenant_id = mail.mailbox.tenant_id
        session.add_all(ConsentGrant(
            tenant_id=tenant_id, mailbox_id=mail.mailbox.id,
            owner_principal_id=mail.end_user.principal.id,
            operator_principal_id=mail.operator.principal.id, message_ids=[f"x{i}", "18c0b1"],
            purpose="support", expires_at=past, created_at=datetime.now(UTC))
            for i in range(600))
    assert read_content(client, mail, "18c0a1").status_code == 200
    lapsed = read_content(client, mail, "18c0b1")
    assert lapsed.status_code == 403
    assert "grant_expired" in lapsed.json()["reasons"], lapsed.json()
