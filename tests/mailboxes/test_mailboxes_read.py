"""Mailboxes as the CRM sees them: state, the features the granted scopes enable, the Google
address, and a reconnect link when the user must act."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import SCOPE_MODIFY
from tests.support.world import TenantWorld


def test_list_and_get_with_features(client: TestClient, tenant_a: TenantWorld,
                                    tenant_b: TenantWorld) -> None:
    listed = client.get("/v1/mailboxes", headers=tenant_a.crm.headers())
    assert listed.status_code == 200, listed.text
    [box] = listed.json()["items"]
    assert box["id"] == str(tenant_a.mailbox.id) and box["state"] == "active"
    assert box["features"] == ["read", "send"]
    assert box["missing_features"] == ["organise", "labels"]
    assert box["reconnect_url"] is None and box["redacted"] == []
    assert box["email_address"] is None          # never connected through OAuth here
    assert client.get("/v1/mailboxes", headers=tenant_a.end_user.headers()).json()["items"] \
        == listed.json()["items"]
    assert client.get("/v1/mailboxes", headers=tenant_a.other_user.headers()).json() \
        == {"items": []}
    own = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}", headers=tenant_a.end_user.headers())
    assert own.status_code == 200 and own.json() == box
    foreign = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}", headers=tenant_b.crm.headers())
    assert foreign.status_code == 404 and foreign.json()["code"] == "mailbox_not_found"
    for bad in ("not-a-uuid", "%00", "0" * 500):
        response = client.get(f"/v1/mailboxes/{bad}", headers=tenant_a.crm.headers())
        assert response.status_code == 404, response.text


def test_modify_scope_enables_everything(client: TestClient, db: Database,
                                         tenant_a: TenantWorld) -> None:
    with db.transaction() as s:
        s.execute(update(Mailbox).where(Mailbox.id == tenant_a.mailbox.id)
                  .values(granted_scopes=[SCOPE_MODIFY]))
    box = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}", headers=tenant_a.crm.headers())
    assert box.json()["features"] == ["read", "send", "organise", "labels"]
    assert box.json()["missing_features"] == []


def test_a_mailbox_needing_its_user_says_where_to_reconnect(client: TestClient, db: Database,
                                                            tenant_a: TenantWorld) -> None:
    with db.transaction() as s:
        s.execute(update(Mailbox).where(Mailbox.id == tenant_a.mailbox.id)
                  .values(state="reauth_required", state_reason="invalid_grant"))
    box = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}", headers=tenant_a.crm.headers())
    assert box.status_code == 200, box.text
    assert box.json()["state"] == "reauth_required"
    assert box.json()["state_reason"] == "invalid_grant"
    assert box.json()["reconnect_url"] == f"/v1/mailboxes/{tenant_a.mailbox.id}/reconnect"
    # The store stays readable while the tokens are dead (docs/policy.md §3).
    listed = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}/messages",
                        headers=tenant_a.crm.headers())
    assert listed.status_code == 200, listed.text
