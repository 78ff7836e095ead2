"""google-auth refreshes an access token inside a Gmail call; when that refresh fails the caller
gets a gateway problem, never a 500: a dead grant flips the mailbox to reauth_required (as the
token service does), another refusal is a 502, an unreachable token endpoint a retryable 503.
Real OAuth consent, real token endpoint and Gmail API on the emulator over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from emulator.testing import RunningEmulator
from gateway.gmail.client import GmailClient
from gateway.gmail.errors import GmailTokenRefreshFailed, GmailUnreachable
from gateway.gmail.retry import is_retryable
from gateway.kit.db import Database
from gateway.mailboxes.gmail_access import gmail_for
from gateway.mailboxes.models import Mailbox, OAuthToken
from gateway.mailboxes.tokens import MailboxNeedsUser
from gateway.runtime import runtime_of
from gateway.settings import Settings
from tests.google_world import GOOGLE_ALICE, connect
from tests.support.world import TenantWorld


def _client(db: Database, app: FastAPI, settings: Settings, mailbox_id: uuid.UUID
            ) -> GmailClient:
    with db.transaction() as session:
        mailbox = session.get(Mailbox, mailbox_id)
        assert mailbox is not None
        return gmail_for(session, mailbox, crypto=runtime_of(app).crypto, settings=settings,
                         database=db)


def _expire(client: GmailClient) -> None:
    client.credentials.expiry = (datetime.now(UTC) - timedelta(minutes=1)).replace(tzinfo=None)


def test_a_grant_revoked_mid_session_makes_the_mailbox_reauth_required(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        oauth_app: FastAPI, oauth_settings: Settings) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    client = _client(db, oauth_app, oauth_settings, mailbox_id)
    assert client.execute(client.users.getProfile(userId="me"))["emailAddress"] == GOOGLE_ALICE

    emu.control.revoke_user(GOOGLE_ALICE)  # Gmail now answers 401; google-auth refreshes
    with pytest.raises(MailboxNeedsUser) as raised:
        client.execute(client.users.getProfile(userId="me"))
    assert raised.value.status == 403
    assert raised.value.extra["mailbox_state"] == "reauth_required"
    with db.transaction() as session:  # committed on its own, whatever the caller does next
        mailbox = session.get(Mailbox, mailbox_id)
        token = session.get(OAuthToken, mailbox_id)
        assert mailbox is not None and token is not None
        assert (mailbox.state, mailbox.state_reason) == ("reauth_required", "invalid_grant")
        assert token.invalid_at is not None and token.access_token is None

    # A batch call takes the same path.
    batch = client.new_batch()
    batch.add(client.users.getProfile(userId="me"))
    with pytest.raises(MailboxNeedsUser):
        client.execute_batch(batch)


def test_an_unreachable_token_endpoint_is_a_retryable_503(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        oauth_app: FastAPI, oauth_settings: Settings) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    dead = oauth_settings.model_copy(update={"google_token_uri": "http://127.0.0.1:9/token"})
    client = _client(db, oauth_app, dead, mailbox_id)
    _expire(client)
    with pytest.raises(GmailUnreachable) as raised:
        client.execute(client.users.getProfile(userId="me"))
    assert raised.value.status == 503 and is_retryable(raised.value)
    with db.transaction() as session:
        mailbox = session.get(Mailbox, mailbox_id)
        assert mailbox is not None and mailbox.state == "active"


def test_another_refresh_refusal_is_a_502_and_keeps_the_mailbox(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        oauth_app: FastAPI, oauth_settings: Settings) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    wrong = oauth_settings.model_copy(update={"google_client_secret": SecretStr("not-it")})
    client = _client(db, oauth_app, wrong, mailbox_id)
    _expire(client)
    with pytest.raises(GmailTokenRefreshFailed) as raised:
        client.execute(client.users.getProfile(userId="me"))
    assert raised.value.status == 502
    assert raised.value.reason not in (None, "invalid_grant")
    with db.transaction() as session:
        mailbox = session.get(Mailbox, mailbox_id)
        assert mailbox is not None and mailbox.state == "active"
