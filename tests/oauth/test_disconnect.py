"""Disconnect: revoke at Google, delete the tokens, stop sync, and by default delete the synced
data with crypto-shredding; the operation log keeps its entries."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from emulator.testing import RunningEmulator
from gateway.audit.models import AuditEntry
from gateway.crypto import CryptoService, KeyDestroyed
from gateway.crypto.models import MailboxDataKey
from gateway.kit.db import Database
from gateway.mail.models import Message
from gateway.mailboxes.models import Mailbox, OAuthToken
from tests.mail.factories import make_raw, store_message
from tests.support.world import TenantWorld

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    GOOGLE_ALICE,
    RETURN_URL,
    connect,
    refresh_tokens_of,
)


def _seed(db: Database, crypto: CryptoService, mailbox_id: uuid.UUID) -> None:
    with db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
    for n in range(2):
        store_message(db, crypto, mailbox, f"18c{n:05x}", f"18c{n:05x}",
                      make_raw(f"Quote {n}", "Numbers inside"))


def _audit_count(db: Database, mailbox_id: uuid.UUID) -> int:
    with db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntry)
                            .where(AuditEntry.mailbox_id == mailbox_id)) or 0)


@pytest.mark.clause("pp.deletion", "pp.user_rights")
def test_disconnect_revokes_deletes_tokens_and_shreds_the_data(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        crypto: CryptoService) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    _seed(db, crypto, mailbox_id)
    (refresh,) = refresh_tokens_of(emu, GOOGLE_ALICE)
    headers = tenant_a.crm.headers()
    assert gw.get(f"/v1/mailboxes/{mailbox_id}/messages", headers=headers).json()["items"]
    logged_before = _audit_count(db, mailbox_id)

    response = gw.delete(f"/v1/mailboxes/{mailbox_id}/connection", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"mailbox_id": str(mailbox_id), "state": "disconnected",
                               "revoked_at_google": "revoked", "tokens_deleted": True,
                               "data_deleted": True}

    # Google: the grant is gone and the refresh token no longer works.
    assert emu.control.grants() == []
    dead = httpx.post(emu.token_uri, data={"grant_type": "refresh_token", "refresh_token": refresh,
                                           "client_id": CLIENT_ID,
                                           "client_secret": CLIENT_SECRET})
    assert dead.json()["error"] == "invalid_grant"
    with db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        assert mailbox.state == "disconnected" and mailbox.sync_requested_at is None
        assert mailbox.email_address is None and mailbox.google_subject_index is None
        assert mailbox.data_deleted_at is not None
        assert s.get(OAuthToken, mailbox_id) is None
        assert s.scalar(select(func.count()).select_from(Message)
                        .where(Message.mailbox_id == mailbox_id)) == 0
        keys = s.scalars(select(MailboxDataKey).where(MailboxDataKey.mailbox_id == mailbox_id))
        assert all(k.wrapped_key is None and k.destroyed_at is not None for k in keys)
        # Crypto-shredded: nothing can be sealed (or opened) for this mailbox any more.
        with pytest.raises(KeyDestroyed):
            crypto.keyring.current_key(s, str(tenant_a.tenant.id), str(mailbox_id))
    # The operation log keeps everything it had, plus the disconnect and the shredding.
    assert _audit_count(db, mailbox_id) == logged_before + 2
    with db.transaction() as s:
        last = s.execute(select(AuditEntry.operation, AuditEntry.decision)
                         .where(AuditEntry.mailbox_id == mailbox_id)
                         .order_by(AuditEntry.occurred_at.desc()).limit(2)).all()
    assert [tuple(r) for r in last] == [("keys:data_key:shredded", "allow"),
                                        ("oauth:disconnect", "allow")]

    shown = gw.get(f"/v1/mailboxes/{mailbox_id}", headers=headers).json()
    assert shown["state"] == "disconnected" and shown["reconnect_url"]
    refused = gw.get(f"/v1/mailboxes/{mailbox_id}/messages", headers=headers)
    assert refused.status_code == 403

    # The same Google account may connect again: a new mailbox (the old key is gone for good).
    again = connect(gw, emu, tenant_a, ["read"])
    assert again.outcome["status"] == "connected" and again.mailbox_id != mailbox_id


def test_disconnect_keeping_the_data_and_reconnecting_reuses_the_mailbox(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        crypto: CryptoService) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    _seed(db, crypto, mailbox_id)
    headers = tenant_a.crm.headers()
    response = gw.delete(f"/v1/mailboxes/{mailbox_id}/connection?delete_data=false",
                         headers=headers)
    assert response.status_code == 200
    assert response.json()["data_deleted"] is False
    assert response.json()["revoked_at_google"] == "revoked"
    with db.transaction() as s:
        assert s.get(OAuthToken, mailbox_id) is None
        assert s.scalar(select(func.count()).select_from(Message)
                        .where(Message.mailbox_id == mailbox_id)) == 2

    link = gw.post(f"/v1/mailboxes/{mailbox_id}/reconnect", headers=headers,
                   json={"return_url": RETURN_URL})
    assert link.status_code == 201, link.text
    result = connect(gw, emu, tenant_a, consent_url=link.json()["consent_url"])
    assert result.outcome == {"status": "connected", "mailbox_id": str(mailbox_id)}
    listed = gw.get(f"/v1/mailboxes/{mailbox_id}/messages", headers=headers)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2


def test_disconnect_after_the_user_revoked_at_google(
        gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    emu.control.revoke_user(GOOGLE_ALICE)
    response = gw.delete(f"/v1/mailboxes/{mailbox_id}/connection",
                         headers=tenant_a.end_user.headers("user_rights"))
    assert response.status_code == 200
    assert response.json()["revoked_at_google"] == "already_invalid"
    assert response.json()["tokens_deleted"] is True
    # Idempotent: a second disconnect finds nothing left to do.
    second = gw.delete(f"/v1/mailboxes/{mailbox_id}/connection",
                       headers=tenant_a.end_user.headers("user_rights"))
    assert second.status_code == 200
    assert second.json()["revoked_at_google"] == "no_token"


def test_only_the_owner_or_the_crm_may_disconnect(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        tenant_b: TenantWorld) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    other = gw.delete(f"/v1/mailboxes/{mailbox_id}/connection",
                      headers=tenant_a.other_user.headers())
    assert other.status_code == 403 and "not_mailbox_owner" in other.json()["reasons"]
    stranger = gw.delete(f"/v1/mailboxes/{mailbox_id}/connection",
                         headers=tenant_b.crm.headers())
    assert stranger.status_code == 404
    operator = gw.delete(f"/v1/mailboxes/{mailbox_id}/connection",
                         headers=tenant_a.operator.headers("support"))
    assert operator.status_code == 403
    with db.transaction() as s:
        assert s.get(OAuthToken, mailbox_id) is not None
