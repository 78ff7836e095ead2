"""Restriction of processing (a user's right, requirements §5), black-box: the owner freezes
the mailbox, after which mail is refused with `mailbox_restricted` while its status, human-access
management and lifting stay open; lifting restores it. Who may, for which purpose, and the
state it returns to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.tokens import mark_reauth_required
from gateway.oauth.flow import TokenGrant
from gateway.oauth.grants import store_tokens
from gateway.outbox.models import WebhookEvent
from gateway.policy.vocabulary import SCOPE_READONLY
from gateway.runtime import runtime_of
from tests.mail.factories import make_raw, store_message
from tests.support.world import TenantWorld


def _url(world: TenantWorld, suffix: str = "") -> str:
    return f"/v1/mailboxes/{world.mailbox.id}{suffix}"


@pytest.mark.clause("pp.user_rights")
def test_the_owner_restricts_and_lifts(client: TestClient, db: Database,
                                       tenant_a: TenantWorld) -> None:
    store_message(db, runtime_of(client.app).crypto, tenant_a.mailbox, "r1", "t1",
                  make_raw("Restrict me", "processing of this may be restricted"))
    owner, crm = tenant_a.end_user, tenant_a.crm
    content = _url(tenant_a, "/messages/r1/content")
    assert client.get(content, headers=crm.headers()).status_code == 200

    restricted = client.put(_url(tenant_a, "/restriction"), headers=owner.headers("user_rights"))
    assert restricted.status_code == 200, restricted.text
    assert restricted.json()["state"] == "restricted"
    assert restricted.json()["state_reason"] == "restricted_by_user"
    again = client.put(_url(tenant_a, "/restriction"), headers=owner.headers("user_rights"))
    assert again.status_code == 200 and again.json()["state"] == "restricted"  # idempotent

    refused = client.get(content, headers=crm.headers())
    assert refused.status_code == 403
    assert "mailbox_restricted" in refused.json()["reasons"]
    assert "processing of this" not in refused.text
    listing = client.get(_url(tenant_a, "/messages"), headers=crm.headers())
    assert listing.status_code == 403
    status = client.get(_url(tenant_a), headers=crm.headers())
    assert status.status_code == 200 and status.json()["state"] == "restricted"
    consent = client.get(_url(tenant_a, "/consent"), headers=owner.headers("consent_management"))
    assert consent.status_code == 200

    lifted = client.delete(_url(tenant_a, "/restriction"), headers=crm.headers("user_rights"))
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["state"] == "active" and lifted.json()["state_reason"] is None
    with db.transaction() as session:
        mailbox = session.get(Mailbox, tenant_a.mailbox.id)
        assert mailbox is not None and mailbox.sync_requested_at is not None  # catch up
        announced = session.scalars(select(WebhookEvent.payload).where(
            WebhookEvent.mailbox_id == tenant_a.mailbox.id,
            WebhookEvent.type == "mailbox.state_changed").order_by(WebhookEvent.occurred_at))
        states = [payload["data"]["state"] for payload in announced]
        assert states[-2:] == ["restricted", "active"]  # the CRM is told both changes
    assert client.get(content, headers=crm.headers()).status_code == 200
    again = client.delete(_url(tenant_a, "/restriction"), headers=crm.headers("user_rights"))
    assert again.status_code == 200 and again.json()["state"] == "active"  # idempotent


def test_only_the_owner_or_the_crm_for_user_rights(client: TestClient,
                                                  tenant_a: TenantWorld,
                                                  tenant_b: TenantWorld) -> None:
    url = _url(tenant_a, "/restriction")
    colleague = client.put(url, headers=tenant_a.other_user.headers("user_rights"))
    assert colleague.status_code == 403
    assert "not_mailbox_owner" in colleague.json()["reasons"]
    operator = client.put(url, headers=tenant_a.operator.headers("support"))
    assert operator.status_code == 403
    wrong_purpose = client.put(url, headers=tenant_a.end_user.headers("user_facing"))
    assert wrong_purpose.status_code == 403
    assert "purpose_not_permitted" in wrong_purpose.json()["reasons"]
    other_tenant = client.put(url, headers=tenant_b.crm.headers("user_rights"))
    assert other_tenant.status_code == 404  # another tenant's mailbox is not seen at all
    status = client.get(_url(tenant_a), headers=tenant_a.crm.headers())
    assert status.json()["state"] == "active"  # none of them changed anything


def test_lifting_returns_to_reauth_required_when_google_refused_the_token(
        client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    with db.transaction() as session:
        mailbox = session.get(Mailbox, tenant_a.mailbox.id)
        assert mailbox is not None
        store_tokens(session, runtime_of(client.app).crypto, mailbox, TokenGrant(
            access_token="ya29.test", refresh_token="1//test-refresh",
            expires_at=datetime.now(UTC), scopes=[SCOPE_READONLY]), client_id="test-client")
        mark_reauth_required(session, mailbox, "invalid_grant")
    owner = tenant_a.end_user.headers("user_rights")
    status = client.get(_url(tenant_a), headers=tenant_a.crm.headers())
    assert status.json()["state"] == "reauth_required"
    assert client.put(_url(tenant_a, "/restriction"), headers=owner).json()["state"] == \
        "restricted"
    lifted = client.delete(_url(tenant_a, "/restriction"), headers=owner)
    assert lifted.json()["state"] == "reauth_required"
    assert lifted.json()["state_reason"] == "invalid_grant"


def test_a_disconnected_mailbox_cannot_be_restricted(client: TestClient, db: Database,
                                                     tenant_a: TenantWorld) -> None:
    with db.transaction() as session:
        mailbox = session.get(Mailbox, tenant_a.mailbox.id)
        assert mailbox is not None
        mailbox.state = "disconnected"
    refused = client.put(_url(tenant_a, "/restriction"),
                         headers=tenant_a.end_user.headers("user_rights"))
    assert refused.status_code == 409
    assert refused.json()["code"] == "mailbox_disconnected"
