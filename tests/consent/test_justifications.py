"""Limited Use rule 6 (b)/(c), black-box: an operator reads mail for security or legal reasons only
under a justification a reviewer recorded for that operator, that mailbox (and those messages, if
scoped), with a case reference, until it expires or is revoked. Such accesses are flagged for
reviewers with the case reference, and the owner sees them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from gateway.justifications.models import Justification
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import SCOPE_READONLY
from gateway.runtime import runtime_of
from tests.mail.factories import make_raw, store_message
from tests.support.world import Actor, TenantWorld

SECRET_BODY = "Wire the money to account 0042 before Friday."
REASON = "Abuse report: this mailbox sent phishing mail to 40 customers on 2026-11-20."


@pytest.fixture
def mail(client: TestClient, db: Database, tenant_a: TenantWorld) -> TenantWorld:
    crypto = runtime_of(client.app).crypto
    store_message(db, crypto, tenant_a.mailbox, "18c0a1", "t100",
                  make_raw("Invoice", SECRET_BODY))
    store_message(db, crypto, tenant_a.mailbox, "18c0a2", "t100", make_raw("Re: Invoice", "ok"))
    store_message(db, crypto, tenant_a.mailbox, "18c0b1", "t200", make_raw("Lunch?", "noon"))
    return tenant_a


@pytest.fixture
def other_mailbox(client: TestClient, db: Database, mail: TenantWorld) -> Mailbox:
    """Bob's mailbox, same tenant, with one message."""
    with db.transaction() as s:
        mailbox = Mailbox(tenant_id=mail.tenant.id, owner_principal_id=mail.other_user.principal.id,
                          granted_scopes=[SCOPE_READONLY])
        s.add(mailbox)
    store_message(db, runtime_of(client.app).crypto, mailbox, "18d0c1", "t300",
                  make_raw("Bob's mail", "bob's secret"))
    return mailbox


def mailbox_url(mailbox: Mailbox | TenantWorld, suffix: str = "") -> str:
    mailbox_id = mailbox.mailbox.id if isinstance(mailbox, TenantWorld) else mailbox.id
    return f"/v1/mailboxes/{mailbox_id}{suffix}"


def record(client: TestClient, world: TenantWorld, *, by: Actor | None = None,
           mailbox: Mailbox | None = None, expect: int = 201, purpose: str | None = None,
           **body: Any) -> dict[str, Any]:
    body.setdefault("kind", "security")
    body.setdefault("case_ref", "SEC-2026-0042")
    body.setdefault("reason", REASON)
    body.setdefault("expires_in_minutes", 120)
    if "operator_group" not in body:
        body.setdefault("operator_id", world.operator.id)
    response = client.post(mailbox_url(mailbox or world, "/justifications"), json=body,
                           headers=(by or world.reviewer).headers(purpose or str(body["kind"])))
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


def read(client: TestClient, world: TenantWorld, message_id: str, purpose: str = "security",
         mailbox: Mailbox | None = None, header: str | None = None) -> Any:
    headers = world.operator.headers(purpose)
    if header is not None:
        headers["Gateway-Justification"] = header
    return client.get(mailbox_url(mailbox or world, f"/messages/{message_id}/content"),
                      headers=headers)


def flagged_entries(client: TestClient, world: TenantWorld, **params: str) -> list[dict]:
    response = client.get("/v1/audit/entries", params={"flagged": "true", **params},
                          headers=world.reviewer.headers("audit_review"))
    assert response.status_code == 200, response.text
    items: list[dict] = response.json()["items"]
    return items


@pytest.mark.clause("lu.human_reading.security", "lu.human_reading.legal")
def test_security_read_needs_a_recorded_justification(client: TestClient,
                                                      mail: TenantWorld) -> None:
    denied = read(client, mail, "18c0a1")
    assert denied.status_code == 403
    assert denied.json()["reasons"] == ["justification_required"]
    assert SECRET_BODY not in denied.text

    recorded = record(client, mail)
    assert recorded["status"] == "active" and recorded["reason"] == REASON
    assert recorded["recorded_by"] == mail.reviewer.id
    assert recorded["message_ids"] == [] and recorded["thread_ids"] == []

    allowed = read(client, mail, "18c0a1")
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["text"].strip() == SECRET_BODY

    # The access is flagged for reviewers, naming the justification and its case.
    flagged = flagged_entries(client, mail)
    assert len(flagged) == 1
    entry = flagged[0]
    assert entry["actor_id"] == mail.operator.id and entry["decision"] == "allow"
    assert entry["action"] == "mail.message.read_content"
    assert entry["resource_ids"] == ["18c0a1"]
    assert entry["reasons"] == ["allow_operator_justified"]
    assert entry["detail"]["flag_for_review"] is True
    assert entry["detail"]["justification"] == {
        "id": recorded["id"], "kind": "security", "case_ref": "SEC-2026-0042"}
    assert REASON not in str(entry)
    # ... and not among the unflagged ones; the denial before the record is not flagged.
    unflagged = client.get("/v1/audit/entries", params={"flagged": "false"},
                           headers=mail.reviewer.headers("audit_review")).json()["items"]
    assert entry["id"] not in {e["id"] for e in unflagged}
    assert any(e["decision"] == "deny" and e["actor_id"] == mail.operator.id for e in unflagged)


def test_the_owner_sees_justifications_and_what_was_read(client: TestClient,
                                                         mail: TenantWorld) -> None:
    recorded = record(client, mail, message_ids=["18c0a1"])
    assert read(client, mail, "18c0a1").status_code == 200
    assert read(client, mail, "18c0b1").status_code == 403

    view = client.get(mailbox_url(mail, "/justifications"),
                      headers=mail.end_user.headers("consent_management"))
    assert view.status_code == 200, view.text
    [item] = view.json()["items"]
    assert item["id"] == recorded["id"] and item["case_ref"] == "SEC-2026-0042"
    assert item["operator_principal_id"] == mail.operator.id
    assert item["reason"] is None  # the reason is for reviewers
    accesses = item["accesses"]
    assert [(a["decision"], a["resource_ids"]) for a in accesses] == [
        ("deny", ["18c0b1"]), ("allow", ["18c0a1"])]
    assert SECRET_BODY not in view.text

    # The CRM shows the same view to its user; another user and the operator cannot.
    assert client.get(mailbox_url(mail, "/justifications"),
                      headers=mail.crm.headers("consent_management")).status_code == 200
    other = client.get(mailbox_url(mail, "/justifications"),
                       headers=mail.other_user.headers("consent_management"))
    assert other.status_code == 403 and other.json()["reasons"] == ["not_mailbox_owner"]
    by_operator = client.get(mailbox_url(mail, "/justifications"),
                             headers=mail.operator.headers("security"))
    assert by_operator.status_code == 403
    assert by_operator.json()["reasons"] == ["action_not_permitted"]

    one = client.get(f"/v1/justifications/{recorded['id']}",
                     headers=mail.end_user.headers("consent_management"))
    assert one.status_code == 200 and one.json()["reason"] is None
    assert len(one.json()["accesses"]) == 2
    for_reviewer = client.get(f"/v1/justifications/{recorded['id']}",
                              headers=mail.reviewer.headers("audit_review"))
    assert for_reviewer.json()["reason"] == REASON
    tenant_wide = client.get("/v1/justifications", params={"status": "active"},
                             headers=mail.reviewer.headers("audit_review"))
    assert [j["id"] for j in tenant_wide.json()["items"]] == [recorded["id"]]
    assert client.get("/v1/justifications", headers=mail.end_user.headers(
        "consent_management")).status_code == 403


@pytest.mark.clause("lu.human_reading.security", "lu.human_reading.legal")
def test_revoked_and_expired_justifications_stop_working(client: TestClient, db: Database,
                                                         mail: TenantWorld) -> None:
    first = record(client, mail)
    assert read(client, mail, "18c0a1").status_code == 200
    revoked = client.delete(f"/v1/justifications/{first['id']}",
                            headers=mail.reviewer.headers("security"))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked_by"] == mail.reviewer.id
    after = read(client, mail, "18c0a1")
    assert after.status_code == 403
    assert after.json()["reasons"] == ["justification_revoked"]

    second = record(client, mail, case_ref="SEC-2026-0043")
    assert read(client, mail, "18c0a1").status_code == 200
    with db.transaction() as s:
        s.execute(update(Justification).where(Justification.id == uuid.UUID(second["id"])).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    expired = read(client, mail, "18c0a1")
    assert expired.status_code == 403
    assert expired.json()["reasons"] == ["justification_expired"]

    # Only a reviewer revokes: not the operator, not the owner.
    third = record(client, mail, case_ref="SEC-2026-0044")
    for actor, purpose in ((mail.operator, "security"), (mail.end_user, "consent_management")):
        refused = client.delete(f"/v1/justifications/{third['id']}", headers=actor.headers(purpose))
        assert refused.status_code == 403
        assert refused.json()["reasons"] == ["action_not_permitted"]
    assert read(client, mail, "18c0a1").status_code == 200


def test_a_justification_for_another_mailbox_does_not_open_this_one(
        client: TestClient, mail: TenantWorld, other_mailbox: Mailbox) -> None:
    elsewhere = record(client, mail, mailbox=other_mailbox)
    assert read(client, mail, "18d0c1", mailbox=other_mailbox).status_code == 200

    looked_up = read(client, mail, "18c0a1")
    assert looked_up.status_code == 403
    assert looked_up.json()["reasons"] == ["justification_required"]
    named = read(client, mail, "18c0a1", header=elsewhere["id"])
    assert named.status_code == 403
    assert named.json()["reasons"] == ["justification_not_for_resource"]
    # An id that names nothing of this tenant: decided (and logged) as no justification.
    for bogus in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        unknown = read(client, mail, "18c0a1", header=bogus)
        assert unknown.status_code == 403
        assert unknown.json()["reasons"] == ["justification_required"]


def test_scope_operator_group_and_kind(client: TestClient, mail: TenantWorld) -> None:
    thread = record(client, mail, thread_ids=["t100"])
    assert read(client, mail, "18c0a1").status_code == 200
    assert read(client, mail, "18c0a2").status_code == 200
    outside = read(client, mail, "18c0b1")
    assert outside.status_code == 403
    assert outside.json()["reasons"] == ["justification_not_for_resource"]
    # a security justification does not cover a legal purpose
    legal = read(client, mail, "18c0a1", purpose="legal")
    assert legal.status_code == 403 and legal.json()["reasons"] == ["justification_required"]
    # nor support: that needs the owner's consent grant
    assert read(client, mail, "18c0a1", purpose="support").json()["reasons"] == [
        "consent_required"]

    group = record(client, mail, kind="legal", case_ref="LEGAL-7", operator_group="support",
                   message_ids=["18c0b1"])
    assert group["operator_group"] == "support" and group["operator_principal_id"] is None
    assert read(client, mail, "18c0b1", purpose="legal").status_code == 200
    # the header picks the case an access is attributed to
    named = read(client, mail, "18c0a1", header=thread["id"])
    assert named.status_code == 200
    flagged = flagged_entries(client, mail)
    assert {e["detail"]["justification"]["case_ref"] for e in flagged} == {
        "SEC-2026-0042", "LEGAL-7"}


def test_only_reviewers_record_justifications(client: TestClient, mail: TenantWorld) -> None:
    for actor in (mail.operator, mail.end_user, mail.crm, mail.analytics):
        refused = record(client, mail, by=actor, expect=403)
        assert refused["reasons"] == ["action_not_permitted"], actor.principal.kind
        assert refused["code"] == "policy_denied"
    # a reviewer states the case's kind as the purpose of recording it
    audit = record(client, mail, purpose="audit_review", expect=403)
    assert audit["reasons"] == ["purpose_not_permitted"]
    assert read(client, mail, "18c0a1").status_code == 403


@pytest.mark.parametrize(("body", "code"), [
    ({"case_ref": "sec 42; the user is a fraudster"}, "validation_failed"),
    ({"case_ref": "SEC"}, "validation_failed"),
    ({"case_ref": "SEC-" + "9" * 70}, "validation_failed"),
    ({"kind": "curiosity", "purpose": "security"}, "validation_failed"),
    ({"reason": "short"}, "validation_failed"),
    ({"expires_in_minutes": 0}, "validation_failed"),
    ({"expires_in_minutes": 72 * 60 + 1}, "justification_too_long"),
    ({"operator_group": "support", "operator_id": "6f1c1f3e-9a51-4c58-b2d4-1d7e2c0a9b10"},
     "validation_failed"),  # exactly one of the two
    ({"message_ids": ["../../etc"]}, "validation_failed"),
    ({"kind": "legal", "purpose": "security"}, "justification_kind_mismatch"),
])
def test_bad_records_are_problems(client: TestClient, mail: TenantWorld,
                                  body: dict[str, Any], code: str) -> None:
    purpose = body.pop("purpose", None)
    problem = record(client, mail, expect=422, purpose=purpose, **body)
    assert problem["code"] == code
    assert problem["status"] == 422
    assert "fraudster" not in str(problem)


def test_longest_allowed_expiry_and_unknown_operator(client: TestClient,
                                                    mail: TenantWorld) -> None:
    longest = record(client, mail, expires_in_minutes=72 * 60)
    expires = datetime.fromisoformat(longest["expires_at"])
    assert timedelta(hours=71) < expires - datetime.now(UTC) <= timedelta(hours=72)
    unknown = record(client, mail, operator_id=mail.crm.id, expect=404)
    assert unknown["code"] == "operator_not_found"


def test_other_tenants_see_nothing(client: TestClient, db: Database, mail: TenantWorld,
                                   tenant_b: TenantWorld) -> None:
    store_message(db, runtime_of(client.app).crypto, tenant_b.mailbox, "18c0a1", "t100",
                  make_raw("B's mail", "tenant b"))
    recorded = record(client, mail)
    assert client.get(f"/v1/justifications/{recorded['id']}",
                      headers=tenant_b.reviewer.headers("audit_review")).status_code == 404
    assert client.delete(f"/v1/justifications/{recorded['id']}",
                         headers=tenant_b.reviewer.headers("security")).status_code == 404
    listed = client.get("/v1/justifications", headers=tenant_b.reviewer.headers("audit_review"))
    assert listed.json()["items"] == []
    # tenant B's operator naming tenant A's justification gets nothing from it
    foreign = client.get(mailbox_url(tenant_b, "/messages/18c0a1/content"),
                         headers={**tenant_b.operator.headers("security"),
                                  "Gateway-Justification": recorded["id"]})
    assert foreign.status_code == 403
    assert foreign.json()["reasons"] == ["justification_required"]
