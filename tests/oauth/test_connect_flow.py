"""The consent round trip against the emulator, driven like a person would: the CRM asks for a
link, the person reads the gateway's page, presses Continue, unticks a scope on Google's page,
and the browser comes back through the callback to the CRM."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update

from emulator.testing import RunningEmulator
from gateway.audit.models import AuditEntry
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox, OAuthToken
from gateway.oauth.models import OAuthState
from gateway.oauth.pages import LIMITED_USE_DISCLOSURE
from gateway.policy.vocabulary import SCOPE_READONLY, SCOPE_SEND
from gateway.runtime import runtime_of
from tests.support.database import rows_as_text
from tests.support.world import TenantWorld

from .conftest import (
    GOOGLE_ALICE,
    GOOGLE_BOB,
    PRIVACY_URL,
    RETURN_URL,
    connect,
    consent_at_google,
    follow_callback,
    page_links,
    query,
    refresh_tokens_of,
    start_connect,
)


def _count(db: Database, model: type) -> int:
    with db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_unticked_send_connects_read_only_and_tokens_are_ciphertext(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        crypto: CryptoService) -> None:
    result = connect(gw, emu, tenant_a, ["read", "send"], untick=(SCOPE_SEND,))

    assert result.location.startswith(RETURN_URL + "?")
    assert result.outcome["status"] == "connected"
    assert result.outcome["missing"] == "send"
    with db.transaction() as s:
        mailbox = s.get(Mailbox, result.mailbox_id)
        assert mailbox is not None
        assert mailbox.owner_principal_id == tenant_a.end_user.principal.id
        assert mailbox.state == "active" and mailbox.sync_requested_at is not None
        assert SCOPE_READONLY in mailbox.granted_scopes
        assert SCOPE_SEND not in mailbox.granted_scopes
        token = s.get(OAuthToken, mailbox.id)
        assert token is not None and token.invalid_at is None
        # Tokens at rest: the raw bytes of the row never contain the plaintext tokens.
        raw = s.execute(text("SELECT refresh_token, access_token FROM oauth_tokens")).one()
        whole = "\n".join(rows_as_text(s, OAuthToken.__table__))
    (refresh,) = refresh_tokens_of(emu, GOOGLE_ALICE)
    access = [a.token for a in emu.state.access_tokens.values() if a.email == GOOGLE_ALICE]
    blob = bytes(raw[0]) + bytes(raw[1]) + whole.encode()
    assert refresh.encode() not in blob and refresh.encode().hex().encode() not in blob
    assert all(a.encode() not in blob for a in access)
    assert b"1//" not in bytes(raw[0]) and b"ya29" not in bytes(raw[1])
    # The address is sealed too: no plaintext in the mailboxes row.
    with db.transaction() as s:
        (row,) = [r for r in rows_as_text(s, Mailbox.__table__)
                  if result.mailbox_id.hex in r.replace("-", "")]
    assert GOOGLE_ALICE not in row
    # It opens for a caller the enforcement point allowed to read the mailbox.
    shown = gw.get(f"/v1/mailboxes/{result.mailbox_id}", headers=tenant_a.crm.headers())
    assert shown.status_code == 200 and shown.json()["email_address"] == GOOGLE_ALICE


def test_send_is_refused_with_scope_not_granted_while_reading_works(
        gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld) -> None:
    result = connect(gw, emu, tenant_a, ["read", "send"], untick=(SCOPE_SEND,))
    mailbox_id = result.outcome["mailbox_id"]
    headers = tenant_a.crm.headers()

    listed = gw.get(f"/v1/mailboxes/{mailbox_id}/messages", headers=headers)
    assert listed.status_code == 200, listed.text

    message = {"to": [GOOGLE_BOB], "subject": "hi", "text": "hello"}
    refused = gw.post(f"/v1/mailboxes/{mailbox_id}/messages/send", headers=headers,
                      json=message)
    assert refused.status_code == 403
    problem = refused.json()
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "scope_not_granted"
    assert problem["reasons"] == ["scope_not_granted"]
    assert problem["missing_features"] == ["send"]
    assert problem["features_enabled"] == ["read"]
    assert problem["reconnect_url"] == f"http://testserver/v1/mailboxes/{mailbox_id}/reconnect"

    # The re-consent link asks for send again (plus what the mailbox has), and reconnecting
    # with send ticked enables it on the same mailbox.
    again = gw.post(problem["reconnect_url"], json={"features": ["send"],
                                                    "return_url": RETURN_URL}, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["features"] == ["read", "send"]
    second = connect(gw, emu, tenant_a, consent_url=again.json()["consent_url"])
    assert second.outcome["status"] == "connected"
    assert second.outcome["mailbox_id"] == mailbox_id and "missing" not in second.outcome
    allowed = gw.post(f"/v1/mailboxes/{mailbox_id}/messages/send", headers=headers,
                      json=message)
    assert allowed.status_code == 200, allowed.text
    # Only the allowed send reached Gmail: Bob received exactly one message.
    assert len(emu.control.messages(GOOGLE_BOB)) == 1


def test_consent_page_discloses_limited_use_and_links_to_google_with_pkce(
        gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld) -> None:
    consent_url = start_connect(gw, tenant_a, ["read", "labels"])
    page = gw.get(consent_url, headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert LIMITED_USE_DISCLOSURE in html
    assert ("use of information received from Google APIs will adhere to the Google API "
            "Services User Data Policy, including the Limited Use requirements") in html
    assert f'href="{PRIVACY_URL}"' in html
    assert 'name="viewport"' in html and "<script" not in html
    assert "Read your email" in html and "Manage your labels" in html
    assert "Send email" not in html  # only what was asked for
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"

    google = page_links(html)["continue"]
    assert google.startswith(emu.auth_uri + "?")
    params = query(google)
    assert params["response_type"] == "code"
    assert params["access_type"] == "offline"
    assert params["include_granted_scopes"] == "true"
    assert params["prompt"] == "consent"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["redirect_uri"] == "http://testserver/oauth/callback"
    assert params["scope"].split() == [
        "openid", "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/gmail.labels",
        "https://www.googleapis.com/auth/gmail.readonly"]
    # The link secret is the state; the database holds only its hash.
    secret = urlsplit(consent_url).path.rsplit("/", 1)[1]
    assert params["state"] == secret
    assert "code_verifier" not in google


def test_callback_is_logged_through_the_enforcement_point_as_the_initiator(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    result = connect(gw, emu, tenant_a, ["read"])
    with db.transaction() as s:
        rows = s.execute(text(
            "SELECT actor_kind, actor_id, connection_id, protocol, decision, mailbox_id, "
            "CAST(detail AS text) FROM audit_entries WHERE operation = 'oauth:connect' "
            "ORDER BY occurred_at")).all()
    assert [r.decision for r in rows] == ["allow", "allow"]
    started, completed = rows
    assert started.actor_id == completed.actor_id == tenant_a.crm.id
    assert completed.connection_id.startswith("oauth_callback:api_key:")
    assert completed.protocol == "http/1.1 oauth-callback"  # the test client speaks plain HTTP
    assert uuid.UUID(str(completed.mailbox_id)) == uuid.UUID(result.outcome["mailbox_id"])
    assert '"stage": "oauth_callback"' in completed[6] or '"stage":"oauth_callback"' in completed[6]
    assert GOOGLE_ALICE not in completed[6]


def test_end_user_connects_their_own_gmail_only(
        gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld) -> None:
    consent_url = start_connect(gw, tenant_a, ["read"], as_crm=False)
    result = connect(gw, emu, tenant_a, consent_url=consent_url)
    assert result.outcome["status"] == "connected"
    other = gw.post("/v1/connect", headers=tenant_a.end_user.headers(), json={
        "end_user_id": tenant_a.other_user.id, "features": ["read"], "return_url": RETURN_URL})
    assert other.status_code == 403 and other.json()["code"] == "not_own_account"
    missing = gw.post("/v1/connect", headers=tenant_a.crm.headers(), json={
        "features": ["read"], "return_url": RETURN_URL})
    assert missing.status_code == 422 and missing.json()["code"] == "end_user_required"
    stranger = gw.post("/v1/connect", headers=tenant_a.crm.headers(), json={
        "end_user_id": str(uuid.uuid4()), "features": ["read"], "return_url": RETURN_URL})
    assert stranger.status_code == 404


def test_return_url_must_be_on_the_allow_list(
        gw: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    for bad in ("https://evil.example/steal", "https://crm.example.test.evil.net/x",
                "https://crm.example.test@evil.net/", "javascript:alert(1)//crm.example.test/",
                "https://crm.example.test/\\evil"):
        response = gw.post("/v1/connect", headers=tenant_a.crm.headers(), json={
            "end_user_id": tenant_a.end_user.id, "features": ["read"], "return_url": bad})
        assert response.status_code == 400, bad
        assert response.json()["code"] == "return_url_not_allowed"
    assert _count(db, OAuthState) == 0


def test_reconnecting_the_same_account_never_duplicates_the_mailbox(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    first = connect(gw, emu, tenant_a, ["read"])
    second = connect(gw, emu, tenant_a, ["read", "labels"])
    assert first.mailbox_id == second.mailbox_id
    with db.transaction() as s:
        owned = s.scalars(select(Mailbox).where(Mailbox.google_subject_index.is_not(None))).all()
        assert [m.id for m in owned] == [first.mailbox_id]
        assert "https://www.googleapis.com/auth/gmail.labels" in owned[0].granted_scopes
    assert _count(db, OAuthToken) == 1


def test_an_account_already_connected_by_another_user_is_refused(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    connect(gw, emu, tenant_a, ["read"])
    response = gw.post("/v1/connect", headers=tenant_a.crm.headers(), json={
        "end_user_id": tenant_a.other_user.id, "features": ["read"], "return_url": RETURN_URL})
    callback = consent_at_google(gw, emu, response.json()["consent_url"], email=GOOGLE_ALICE)
    outcome = query(follow_callback(gw, callback).headers["location"])
    assert outcome == {"status": "error", "reason": "account_connected_to_another_user"}
    assert _count(db, OAuthToken) == 1


def test_the_same_account_in_two_tenants_makes_two_mailboxes(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        tenant_b: TenantWorld) -> None:
    a = connect(gw, emu, tenant_a, ["read"])
    b = connect(gw, emu, tenant_b, ["read"])
    assert a.mailbox_id != b.mailbox_id
    assert _count(db, OAuthToken) == 2


def test_the_policy_still_decides_at_the_callback(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    """A link asked for while the mailbox was active, completed after the user restricted
    processing: the enforcement point refuses at the callback and logs the denial."""
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    link = gw.post(f"/v1/mailboxes/{mailbox_id}/reconnect", headers=tenant_a.crm.headers(),
                   json={"features": ["send"], "return_url": RETURN_URL}).json()
    with db.transaction() as s:
        s.execute(update(Mailbox).where(Mailbox.id == mailbox_id).values(state="restricted"))
    result = connect(gw, emu, tenant_a, consent_url=link["consent_url"])
    assert result.outcome == {"status": "error", "reason": "policy_denied"}
    with db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None and mailbox.state == "restricted"
        assert SCOPE_SEND not in mailbox.granted_scopes
        denied = s.execute(select(AuditEntry.reasons, AuditEntry.detail).where(
            AuditEntry.operation == "oauth:connect", AuditEntry.decision == "deny")).all()
    # Refused at the callback; the consent page was refused its login hint the same way.
    stages = sorted((str(detail["stage"]), list(reasons)) for reasons, detail in denied)
    assert stages == [("consent_page", ["mailbox_restricted"]),
                      ("oauth_callback", ["mailbox_restricted"])]


def test_an_unavailable_operation_log_at_the_callback_stores_nothing(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.kit.errors import Unavailable

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise Unavailable("the operation log is unavailable", code="operation_log_unavailable")

    consent_url = start_connect(gw, tenant_a, ["read"])
    callback = consent_at_google(gw, emu, consent_url)
    monkeypatch.setattr(runtime_of(gw.app).enforcer, "authorize", refuse)
    response = follow_callback(gw, callback)
    assert query(response.headers["location"]) == {"status": "error",
                                                   "reason": "temporarily_unavailable"}
    assert _count(db, OAuthToken) == 0
    with db.transaction() as s:
        state = s.scalars(select(OAuthState)).one()
        assert state.used_at is not None and state.outcome == "error"
