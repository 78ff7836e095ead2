"""The `state` is single use, hashed and short-lived: a replayed, forged or expired one is
refused with a clear error and creates nothing; Google's refusals come back to the CRM as an
outcome, not as an error page."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from emulator.testing import RunningEmulator
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox, OAuthToken
from gateway.oauth.models import OAuthState
from tests.support.world import TenantWorld

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    GOOGLE_ALICE,
    REDIRECT_URI,
    RETURN_URL,
    connect,
    consent_at_google,
    follow_callback,
    google_url_from_page,
    path_and_query,
    query,
    start_connect,
)


def _counts(db: Database) -> tuple[int, int]:
    with db.transaction() as s:
        boxes = s.scalar(select(func.count()).select_from(Mailbox)
                         .where(Mailbox.google_subject_index.is_not(None)))
        toks = s.scalar(select(func.count()).select_from(OAuthToken))
        return int(boxes or 0), int(toks or 0)


def _secret(consent_url: str) -> str:
    return urlsplit(consent_url).path.rsplit("/", 1)[1]


def test_a_replayed_callback_is_refused_and_changes_nothing(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    result = connect(gw, emu, tenant_a, ["read"])
    assert _counts(db) == (1, 1)
    replay = follow_callback(gw, result.callback_url)
    assert replay.status_code == 400
    assert replay.json()["code"] == "oauth_state_used"
    assert "already used" in replay.json()["detail"]
    assert _counts(db) == (1, 1)
    # The consent page of a used link is refused too.
    page = gw.get(result.consent_url, headers={"Accept": "text/html"})
    assert page.status_code == 400 and "oauth_state_used" in page.text


def test_a_forged_state_is_refused_and_creates_nothing(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    consent_url = start_connect(gw, tenant_a, ["read"])
    callback = consent_at_google(gw, emu, consent_url)
    code = query(callback)["code"]
    for forged in ("A" * 43, "not a state", ""):
        response = gw.get("/oauth/callback?" + urlencode({"state": forged, "code": code}))
        assert response.status_code == 400
        assert response.json()["code"] == "oauth_state_invalid"
        assert response.headers["content-type"].startswith("application/problem+json")
    browser = gw.get("/oauth/callback?" + urlencode({"state": "B" * 43, "code": code}),
                     headers={"Accept": "text/html"})
    assert browser.status_code == 400 and "text/html" in browser.headers["content-type"]
    assert "unknown" in browser.text and browser.headers["referrer-policy"] == "no-referrer"
    assert _counts(db) == (0, 0)
    # The genuine state still works afterwards: forging did not burn it.
    assert follow_callback(gw, callback).headers["location"].startswith(RETURN_URL)
    assert _counts(db) == (1, 1)


def test_an_expired_state_is_refused(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    consent_url = start_connect(gw, tenant_a, ["read"])
    callback = consent_at_google(gw, emu, consent_url)
    digest = hashlib.sha256(_secret(consent_url).encode()).digest()
    with db.transaction() as s:
        s.execute(update(OAuthState).where(OAuthState.state_hash == digest)
                  .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    response = follow_callback(gw, callback)
    assert response.status_code == 400 and response.json()["code"] == "oauth_state_expired"
    assert _counts(db) == (0, 0)


def test_only_the_hash_of_the_state_is_stored(
        gw: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    consent_url = start_connect(gw, tenant_a, ["read"])
    secret = _secret(consent_url)
    with db.transaction() as s:
        state = s.scalars(select(OAuthState)).one()
        assert state.state_hash == hashlib.sha256(secret.encode()).digest()
        values = " ".join(str(getattr(state, c.key)) for c in OAuthState.__table__.columns)
        assert secret not in values
        assert state.expires_at - state.created_at <= timedelta(minutes=10, seconds=1)


def test_access_denied_returns_to_the_crm_and_burns_the_state(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    consent_url = start_connect(gw, tenant_a, ["read", "send"])
    callback = consent_at_google(gw, emu, consent_url, deny=True)
    assert query(callback)["error"] == "access_denied"
    response = follow_callback(gw, callback)
    assert response.status_code == 302
    assert query(response.headers["location"]) == {"status": "denied",
                                                   "reason": "access_denied"}
    assert _counts(db) == (0, 0)
    assert follow_callback(gw, callback).json()["code"] == "oauth_state_used"


def test_cancel_on_the_gateway_page_is_a_denial(
        gw: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    from .conftest import page_links

    consent_url = start_connect(gw, tenant_a, ["read"])
    cancel = page_links(gw.get(consent_url).text)["cancel"]
    response = gw.get(path_and_query(cancel))
    assert query(response.headers["location"])["status"] == "denied"
    assert _counts(db) == (0, 0)


def test_unticking_every_gmail_scope_connects_nothing(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    consent_url = start_connect(gw, tenant_a, ["read", "send"])
    callback = consent_at_google(gw, emu, consent_url, untick=(
        "https://www.googleapis.com/auth/gmail.readonly",
        "https://www.googleapis.com/auth/gmail.send"))
    outcome = query(follow_callback(gw, callback).headers["location"])
    assert outcome == {"status": "denied", "reason": "no_gmail_permission"}
    assert _counts(db) == (0, 0)


def test_google_refuses_a_redirect_uri_it_does_not_know(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    emu.control.register_client(CLIENT_ID, CLIENT_SECRET, ["https://elsewhere.test/cb"])
    google = google_url_from_page(gw, start_connect(gw, tenant_a, ["read"]))
    page = httpx.get(google)
    assert page.status_code == 400 and "redirect_uri_mismatch" in page.text
    assert _counts(db) == (0, 0)


def test_a_code_issued_for_another_redirect_uri_is_refused_at_exchange(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    other = "https://elsewhere.test/cb"
    emu.control.register_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI, other])
    consent_url = start_connect(gw, tenant_a, ["read"])
    google = google_url_from_page(gw, consent_url)
    params = query(google) | {"redirect_uri": other}
    redirected = emu.consent(emu.auth_uri + "?" + urlencode(params), email=GOOGLE_ALICE)
    assert redirected.startswith(other)
    callback = REDIRECT_URI + "?" + urlsplit(redirected).query  # the same state and code
    response = follow_callback(gw, callback)
    assert query(response.headers["location"]) == {"status": "error",
                                                   "reason": "redirect_uri_mismatch"}
    assert _counts(db) == (0, 0)


def test_a_wrong_pkce_verifier_cannot_redeem_the_code(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    """An intercepted code is useless without the verifier derived from the state."""
    consent_url = start_connect(gw, tenant_a, ["read"])
    callback = consent_at_google(gw, emu, consent_url)
    response = httpx.post(emu.token_uri, data={
        "grant_type": "authorization_code", "code": query(callback)["code"],
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT_URI,
        "code_verifier": "x" * 43})
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert _counts(db) == (0, 0)
