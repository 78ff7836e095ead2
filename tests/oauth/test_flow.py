"""The pieces under the round trip: endpoints from settings, PKCE without a stored verifier,
transport rules, token storage edge cases, and single use of a state under concurrency."""

from __future__ import annotations

import base64
import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from emulator.testing import RunningEmulator
from gateway.cli import main as gateway_main
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox, OAuthToken
from gateway.mailboxes.tokens import open_refresh_token
from gateway.oauth import states
from gateway.oauth.flow import GoogleNotConfigured, GoogleOAuth, TokenGrant, derive_pkce_key
from gateway.oauth.grants import store_tokens
from gateway.oauth.models import OAuthState
from gateway.settings import Environment, Settings
from tests.support.world import TenantWorld

from .conftest import connect, google_url_from_page, query, start_connect


def test_the_emulator_url_points_every_google_endpoint_at_the_emulator() -> None:
    settings = Settings(emulator_url="http://127.0.0.1:9999/")
    assert settings.google_auth_uri == "http://127.0.0.1:9999/o/oauth2/auth"
    assert settings.google_token_uri == "http://127.0.0.1:9999/token"
    assert settings.google_revoke_uri == "http://127.0.0.1:9999/revoke"
    assert settings.google_userinfo_uri == "http://127.0.0.1:9999/oauth2/v3/userinfo"
    assert settings.gmail_api_endpoint == "http://127.0.0.1:9999"
    assert settings.google_client_id == "emulator-client.apps.googleusercontent.com"
    explicit = Settings(emulator_url="http://127.0.0.1:9999", google_token_uri="http://x/t",
                        google_client_id="mine", google_client_secret=SecretStr("s3cr3t-value"))
    assert explicit.google_token_uri == "http://x/t" and explicit.google_client_id == "mine"
    real = Settings()
    assert real.google_token_uri == "https://oauth2.googleapis.com/token"
    assert real.oauth_redirect_uri == "http://127.0.0.1:8000/oauth/callback"


def test_the_pkce_verifier_is_derived_from_the_state_under_a_server_key() -> None:
    google = GoogleOAuth(Settings(), derive_pkce_key(b"pepper-one"))
    other = GoogleOAuth(Settings(), derive_pkce_key(b"pepper-two"))
    verifier = google.code_verifier("some-state-value")
    assert verifier == google.code_verifier("some-state-value")  # reproducible at the callback
    assert verifier != google.code_verifier("another-state")
    assert verifier != other.code_verifier("some-state-value")  # needs the server key
    assert len(verifier) == 43 and "some-state-value" not in verifier
    assert derive_pkce_key(b"pepper-one") != b"pepper-one"


def test_the_challenge_sent_to_google_is_the_s256_of_the_derived_verifier(
        gw: TestClient, tenant_a: TenantWorld, oauth_settings: Settings) -> None:
    consent_url = start_connect(gw, tenant_a, ["read"])
    params = query(google_url_from_page(gw, consent_url))
    google = GoogleOAuth(oauth_settings, derive_pkce_key(b"test-pepper-0123456789abcdef"))
    digest = hashlib.sha256(google.code_verifier(params["state"]).encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_plain_http_to_google_is_refused_outside_a_local_emulator() -> None:
    remote = Settings(google_client_id="id", google_client_secret=SecretStr("s3cr3t-value"),
                      google_auth_uri="http://accounts.example/o/oauth2/auth")
    with pytest.raises(GoogleNotConfigured):
        GoogleOAuth(remote, b"k" * 32).authorization_url("s" * 43, ["openid"],
                                                          force_consent=True)
    prod_emulator = Settings(environment=Environment.prod, emulator_url="http://127.0.0.1:1")
    with pytest.raises(GoogleNotConfigured):
        GoogleOAuth(prod_emulator, b"k" * 32).authorization_url("s" * 43, ["openid"],
                                                                 force_consent=True)
    with pytest.raises(GoogleNotConfigured):
        _ = GoogleOAuth(Settings(), b"k" * 32).client_id  # no client configured
    with pytest.raises(ValueError, match="unreviewed"):
        GoogleOAuth(Settings(emulator_url="http://127.0.0.1:1"), b"k" * 32).authorization_url(
            "s" * 43, ["https://www.googleapis.com/auth/gmail.insert"], force_consent=True)


def test_an_incremental_reconnect_of_a_live_mailbox_does_not_force_the_prompt(
        gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld) -> None:
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    link = gw.post(f"/v1/mailboxes/{mailbox_id}/reconnect", headers=tenant_a.crm.headers(),
                   json={"features": ["labels"], "return_url": "https://crm.example.test/x"})
    params = query(google_url_from_page(gw, link.json()["consent_url"]))
    assert "prompt" not in params and params["include_granted_scopes"] == "true"
    assert params["scope"].split()[-2:] == ["https://www.googleapis.com/auth/gmail.labels",
                                            "https://www.googleapis.com/auth/gmail.readonly"]


def test_a_grant_without_refresh_token_keeps_the_stored_one(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        crypto: CryptoService) -> None:
    """Google omits the refresh token when offline access was already granted and no consent
    prompt was shown; the stored one stays valid for the whole grant."""
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    with db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        token = s.get(OAuthToken, mailbox_id)
        assert mailbox is not None and token is not None
        before = open_refresh_token(s, crypto, token)
        store_tokens(s, crypto, mailbox, TokenGrant(
            access_token="ya29.new", refresh_token=None,
            expires_at=datetime.now(UTC) + timedelta(hours=1), scopes=["openid"]),
            client_id=token.client_id)
        assert open_refresh_token(s, crypto, token) == before


def test_a_state_is_consumed_exactly_once_under_concurrency(
        gw: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    secret = start_connect(gw, tenant_a, ["read"]).rsplit("/", 1)[1]
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        try:
            with db.transaction() as s:
                states.consume_state(db, s, secret)
            outcomes.append("consumed")
        except states.StateRefused as refused:
            outcomes.append(refused.code)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["consumed"] + ["oauth_state_used"] * 7


def test_keep_alive_command(monkeypatch: pytest.MonkeyPatch, db: Database,
                            oauth_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in (("DATABASE_URL", oauth_settings.database_url),
                       ("KEY_FILE", str(oauth_settings.key_file)),
                       ("EMULATOR_URL", str(oauth_settings.emulator_url))):
        monkeypatch.setenv(f"GATEWAY_{key}", value)
    assert gateway_main(["oauth", "keep-alive"]) == 0
    assert '"refreshed": 0' in capsys.readouterr().out
    with db.transaction() as s:
        assert s.scalars(select(OAuthToken)).all() == []
    assert gateway_main(["oauth", "purge-states"]) == 0
    assert '"purged": 0' in capsys.readouterr().out


def test_expired_states_are_purged(gw: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    start_connect(gw, tenant_a, ["read"])
    start_connect(gw, tenant_a, ["send"])
    with db.transaction() as s:
        first = s.scalars(select(OAuthState).order_by(OAuthState.created_at)).first()
        assert first is not None
        first.expires_at = datetime.now(UTC) - timedelta(days=2)
    assert states.purge_states(db) == 1
    with db.transaction() as s:
        assert len(s.scalars(select(OAuthState)).all()) == 1
