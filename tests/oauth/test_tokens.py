"""The token lifecycle against the emulator: refresh before expiry, revocation and password
change detected on the next use (mailbox → reauth_required, visibly), reconnect restoring the
same mailbox, keep-alive beating Google's six-month idle rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from emulator.testing import RunningEmulator
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox, OAuthToken
from gateway.mailboxes.tokens import MailboxNeedsUser, credentials_for, keep_alive
from gateway.settings import Settings
from tests.support.world import TenantWorld

from .conftest import GOOGLE_ALICE, RETURN_URL, connect, google_url_from_page, query

DAY = 24 * 3600


def _credentials(db: Database, crypto: CryptoService, settings: Settings,
                 mailbox_id: uuid.UUID, **kwargs: bool) -> str:
    with db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        creds = credentials_for(s, mailbox, crypto=crypto, settings=settings, database=db,
                                **kwargs)
        return str(creds.token)


def _expect_reauth(db: Database, crypto: CryptoService, settings: Settings,
                   mailbox_id: uuid.UUID, **kwargs: bool) -> MailboxNeedsUser:
    with pytest.raises(MailboxNeedsUser) as caught:
        _credentials(db, crypto, settings, mailbox_id, **kwargs)
    return caught.value


def _token(db: Database, mailbox_id: uuid.UUID) -> OAuthToken:
    with db.transaction() as s:
        token = s.get(OAuthToken, mailbox_id)
        assert token is not None
        return token


def test_credentials_work_against_gmail_and_refresh_before_expiry(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        crypto: CryptoService, oauth_settings: Settings) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    first = _credentials(db, crypto, oauth_settings, mailbox_id)
    with db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        creds = credentials_for(s, mailbox, crypto=crypto, settings=oauth_settings)
    profile = emu.gmail(creds).users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == GOOGLE_ALICE
    assert _credentials(db, crypto, oauth_settings, mailbox_id) == first  # still fresh: reused

    before = _token(db, mailbox_id)
    with db.transaction() as s:  # four minutes left: inside the five-minute margin
        s.execute(update(OAuthToken).values(
            access_expires_at=datetime.now(UTC) + timedelta(minutes=4)))
    refreshed = _credentials(db, crypto, oauth_settings, mailbox_id)
    after = _token(db, mailbox_id)
    assert refreshed != first and refreshed.startswith("ya29.")
    assert after.access_token != before.access_token  # the new one is stored, sealed
    assert after.refreshed_at > before.refreshed_at
    assert after.access_expires_at is not None
    assert after.access_expires_at > datetime.now(UTC) + timedelta(minutes=30)


@pytest.mark.parametrize("kill", ["revoke", "password_change", "expire"])
def test_a_dead_refresh_token_turns_the_mailbox_reauth_required_visibly(
        kill: str, gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        crypto: CryptoService, oauth_settings: Settings) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read", "send"]).mailbox_id
    headers = tenant_a.crm.headers()
    killed = {"revoke": emu.control.revoke_user,
              "password_change": emu.control.password_change,
              "expire": emu.control.expire_refresh_tokens}[kill](GOOGLE_ALICE)
    assert killed >= 1
    # The next use: the cached access token may still look fresh (revocation is not pushed to
    # us), so a 401 from Gmail makes the caller force a refresh, which answers invalid_grant.
    problem = _expect_reauth(db, crypto, oauth_settings, mailbox_id, force_refresh=True)
    assert problem.code == "mailbox_reauth_required" and problem.status == 403
    assert problem.extra["reconnect_url"] == \
        f"http://testserver/v1/mailboxes/{mailbox_id}/reconnect"

    # Committed on its own although the caller's transaction rolled back.
    with db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        assert (mailbox.state, mailbox.state_reason) == ("reauth_required", "invalid_grant")
        assert mailbox.sync_requested_at is None
        token = s.get(OAuthToken, mailbox_id)
        assert token is not None and token.invalid_at is not None
        assert token.access_token is None
    # Kept out of use: no call to Google any more.
    emu.control.clear_faults()
    assert _expect_reauth(db, crypto, oauth_settings, mailbox_id).extra["mailbox_state"] \
        == "reauth_required"

    shown = gw.get(f"/v1/mailboxes/{mailbox_id}", headers=headers).json()
    assert shown["state"] == "reauth_required" and shown["state_reason"] == "invalid_grant"
    assert shown["reconnect_url"] == f"/v1/mailboxes/{mailbox_id}/reconnect"
    status = gw.get(f"/v1/mailboxes/{mailbox_id}/connection", headers=headers).json()
    assert status["reconnect_url"] == f"http://testserver/v1/mailboxes/{mailbox_id}/reconnect"
    assert status["token"]["invalid_reason"] == "invalid_grant"

    # Gmail actions get a clear problem instead of an upstream error; the store stays readable.
    sent = gw.post(f"/v1/mailboxes/{mailbox_id}/messages/send", headers=headers,
                   json={"to": ["carol@customer.example"], "text": "hello"})
    assert sent.status_code == 403 and sent.json()["code"] == "mailbox_reauth_required"
    assert sent.json()["reconnect_url"].endswith(f"/v1/mailboxes/{mailbox_id}/reconnect")
    assert gw.get(f"/v1/mailboxes/{mailbox_id}/messages", headers=headers).status_code == 200


def test_reconnect_after_reauth_required_restores_the_same_mailbox(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        crypto: CryptoService, oauth_settings: Settings) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read", "send"]).mailbox_id
    emu.control.revoke_user(GOOGLE_ALICE)
    _expect_reauth(db, crypto, oauth_settings, mailbox_id, force_refresh=True)

    link = gw.post(f"/v1/mailboxes/{mailbox_id}/reconnect", headers=tenant_a.crm.headers(),
                   json={"return_url": RETURN_URL})
    assert link.status_code == 201, link.text
    assert link.json()["features"] == ["read", "send"]  # what the mailbox had
    google = query(google_url_from_page(gw, link.json()["consent_url"]))
    assert google["prompt"] == "consent"  # the old refresh token is dead: a new one is needed
    assert google["login_hint"] == GOOGLE_ALICE

    result = connect(gw, emu, tenant_a, consent_url=link.json()["consent_url"])
    assert result.outcome == {"status": "connected", "mailbox_id": str(mailbox_id)}
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Mailbox).where(
            Mailbox.google_subject_index.is_not(None))) == 1
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        assert (mailbox.state, mailbox.state_reason) == ("active", None)
    assert _token(db, mailbox_id).invalid_at is None
    assert _credentials(db, crypto, oauth_settings, mailbox_id, force_refresh=True)


def test_reconnecting_with_another_google_account_is_refused(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    link = gw.post(f"/v1/mailboxes/{mailbox_id}/reconnect", headers=tenant_a.crm.headers(),
                   json={"return_url": RETURN_URL}).json()
    result = connect(gw, emu, tenant_a, consent_url=link["consent_url"],
                     email="bob@example.com")
    assert result.outcome == {"status": "error", "reason": "wrong_google_account"}


def test_keep_alive_beats_the_six_month_idle_rule(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        oauth_app: FastAPI, crypto: CryptoService, oauth_settings: Settings) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    assert keep_alive(db, crypto, oauth_settings).refreshed == 0  # nothing idle yet

    for _ in range(2):  # twice 100 days: past Google's 183-day idle limit without keep-alive
        emu.control.advance_clock(100 * DAY)
        with db.transaction() as s:
            s.execute(update(OAuthToken).values(
                refreshed_at=datetime.now(UTC) - timedelta(days=100)))
        report = keep_alive(db, crypto, oauth_settings)
        assert (report.refreshed, report.reauth_required, report.failed) == (1, 0, 0)
    assert _credentials(db, crypto, oauth_settings, mailbox_id, force_refresh=True)

    # A token Google has dropped is found by the keep-alive too, and the mailbox says so.
    emu.control.revoke_user(GOOGLE_ALICE)
    with db.transaction() as s:
        s.execute(update(OAuthToken).values(refreshed_at=datetime.now(UTC) - timedelta(days=40)))
    report = keep_alive(db, crypto, oauth_settings)
    assert (report.refreshed, report.reauth_required) == (0, 1)
    with db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None and mailbox.state == "reauth_required"
    assert keep_alive(db, crypto, oauth_settings).reauth_required == 0  # not retried


def test_idle_token_without_keep_alive_dies_after_six_months(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        crypto: CryptoService, oauth_settings: Settings) -> None:
    """The control case for the test above: the emulator enforces the idle rule."""
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    emu.control.advance_clock(200 * DAY)
    _expect_reauth(db, crypto, oauth_settings, mailbox_id, force_refresh=True)
