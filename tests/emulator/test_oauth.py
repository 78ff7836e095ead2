"""OAuth 2.0 with the real google-auth-oauthlib and google-auth libraries."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2 import id_token
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.errors import HttpError

from emulator import scopes as sc
from emulator.testing import RunningEmulator

from .conftest import ALICE, error_body, gmail_service
from .discovery_schema import validate_error

REDIRECT = "http://127.0.0.1:8080/oauth/callback"
CLIENT_ID = "emulator-client.apps.googleusercontent.com"


def _flow(emu: RunningEmulator, scopes: list[str]) -> Flow:
    return Flow.from_client_config(emu.client_config(), scopes=scopes, redirect_uri=REDIRECT)


def _profile(emu: RunningEmulator, access_token: str) -> httpx.Response:
    return httpx.get(f"{emu.base_url}/gmail/v1/users/me/profile",
                     headers={"Authorization": f"Bearer {access_token}"})


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _connect(emu: RunningEmulator, scopes: list[str], untick: tuple[str, ...] = (),
             **auth_kwargs: Any) -> tuple[Flow, dict[str, Any]]:
    flow = _flow(emu, scopes)
    url, state = flow.authorization_url(access_type="offline", login_hint=ALICE,
                                        prompt="consent", **auth_kwargs)
    redirect = emu.consent(url, untick=list(untick))
    assert _query(redirect)["state"] == state
    token = flow.fetch_token(code=_query(redirect)["code"])
    return flow, token


def test_consent_page_lists_each_scope_with_a_checkbox(emu: RunningEmulator) -> None:
    url, _state = _flow(emu, ["openid", sc.READONLY, sc.SEND]).authorization_url()
    page = httpx.get(url)
    assert page.status_code == 200
    assert page.text.count('type="checkbox"') == 2
    assert sc.READONLY in page.text and sc.SEND in page.text


def test_full_flow_with_unticked_scope_pkce_and_refresh(emu: RunningEmulator) -> None:
    scopes = ["openid", "https://www.googleapis.com/auth/userinfo.email", sc.READONLY, sc.SEND]
    _, token = _connect(emu, scopes, untick=(sc.SEND,))
    granted = token["scope"] if isinstance(token["scope"], list) else token["scope"].split()
    assert sc.SEND not in granted and sc.READONLY in granted
    assert token["token_type"] == "Bearer" and token["refresh_token"].startswith("1//")
    # The ID token verifies with google-auth against the emulator's JWKS.
    claims = id_token.verify_token(token["id_token"], Request(), audience=CLIENT_ID,
                                   certs_url=emu.certs_pem_uri)
    assert claims["email"] == ALICE and claims["iss"] == "https://accounts.google.com"
    # google-auth refreshes against the emulator's token endpoint.
    creds = Credentials(None, refresh_token=token["refresh_token"], token_uri=emu.token_uri,
                        client_id=CLIENT_ID, client_secret="emulator-secret")
    creds.refresh(Request())
    assert creds.valid and creds.token.startswith("ya29.")
    info = httpx.get(f"{emu.base_url}/oauth2/v3/tokeninfo",
                     params={"access_token": creds.token}).json()
    assert set(info["scope"].split()) == set(granted)
    assert info["email"] == ALICE and info["aud"] == CLIENT_ID
    user = httpx.get(f"{emu.base_url}/oauth2/v3/userinfo",
                     headers={"Authorization": f"Bearer {creds.token}"}).json()
    assert user["email"] == ALICE and user["email_verified"] is True
    # The unticked scope is really missing: sending is refused like Google does.
    gmail = gmail_service(emu, creds)
    with pytest.raises(HttpError) as exc:
        gmail.users().messages().send(userId="me", body={"raw": "eA"}).execute()
    assert exc.value.resp.status == 403
    validate_error(error_body(exc.value), 403, "insufficientPermissions")
    assert gmail.users().getProfile(userId="me").execute()["emailAddress"] == ALICE


def test_refresh_with_requested_scopes_is_checked(emu: RunningEmulator) -> None:
    _, token = _connect(emu, [sc.READONLY, sc.SEND], untick=(sc.SEND,))
    creds = Credentials(None, refresh_token=token["refresh_token"], token_uri=emu.token_uri,
                        client_id=CLIENT_ID, client_secret="emulator-secret",
                        scopes=[sc.READONLY, sc.SEND])
    with pytest.raises(RefreshError):
        creds.refresh(Request())


def test_deny_redirects_with_access_denied(emu: RunningEmulator) -> None:
    url, state = _flow(emu, [sc.READONLY]).authorization_url()
    redirect = emu.consent(url, deny=True)
    assert _query(redirect) == {"error": "access_denied", "state": state}


def test_pkce_verifier_and_code_reuse(emu: RunningEmulator) -> None:
    flow = _flow(emu, [sc.READONLY])
    url, _state = flow.authorization_url(access_type="offline")
    code = _query(emu.consent(url, email=ALICE))["code"]
    form = {"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID,
            "client_secret": "emulator-secret", "redirect_uri": REDIRECT}
    bad = httpx.post(emu.token_uri, data=form | {"code_verifier": "x" * 50})
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant", "error_description": "Invalid code verifier."}
    missing = httpx.post(emu.token_uri, data=form)
    assert missing.json()["error_description"] == "Missing code verifier."
    ok = httpx.post(emu.token_uri, data=form | {"code_verifier": flow.code_verifier})
    assert ok.status_code == 200 and "refresh_token" in ok.json()
    again = httpx.post(emu.token_uri, data=form | {"code_verifier": flow.code_verifier})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_authorization_request_validation(emu: RunningEmulator) -> None:
    base = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
            "scope": sc.READONLY}
    auth = emu.auth_uri
    assert httpx.get(auth, params=base | {"redirect_uri": "http://evil.test/cb"}
                     ).status_code == 400
    assert httpx.get(auth, params=base | {"client_id": "nope"}).status_code == 401
    plain = httpx.get(auth, params=base | {"code_challenge": "abc",
                                           "code_challenge_method": "plain"})
    assert plain.status_code == 400 and "S256" in plain.text
    assert httpx.get(auth, params=base | {"scope": "https://evil.test/x"}).status_code == 400


def test_revoke_kills_refresh_and_access(emu: RunningEmulator) -> None:
    _, token = _connect(emu, [sc.READONLY])
    gmail = gmail_service(emu, Credentials(token["access_token"]))
    gmail.users().getProfile(userId="me").execute()
    assert httpx.post(emu.revoke_uri, data={"token": token["refresh_token"]}).status_code == 200
    resp = httpx.post(emu.token_uri, data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"],
        "client_id": CLIENT_ID, "client_secret": "emulator-secret"})
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid_grant",
                           "error_description": "Token has been expired or revoked."}
    resp = _profile(emu, token["access_token"])
    assert resp.status_code == 401
    validate_error(resp.json(), 401, "authError")
    assert httpx.post(emu.revoke_uri, data={"token": token["refresh_token"]}).status_code == 400


def test_password_change_kills_gmail_refresh_tokens(emu: RunningEmulator) -> None:
    _, token = _connect(emu, [sc.READONLY])
    assert emu.control.password_change(ALICE) == 1
    creds = Credentials(None, refresh_token=token["refresh_token"], token_uri=emu.token_uri,
                        client_id=CLIENT_ID, client_secret="emulator-secret")
    with pytest.raises(RefreshError, match="invalid_grant"):
        creds.refresh(Request())


def test_user_revocation_from_control(emu: RunningEmulator) -> None:
    _, token = _connect(emu, [sc.READONLY])
    emu.control.revoke_user(ALICE)
    creds = Credentials(None, refresh_token=token["refresh_token"], token_uri=emu.token_uri,
                        client_id=CLIENT_ID, client_secret="emulator-secret")
    with pytest.raises(RefreshError, match="expired or revoked"):
        creds.refresh(Request())


def test_testing_mode_client_refresh_tokens_die_after_seven_days(emu: RunningEmulator) -> None:
    emu.control.register_client("testing-app", "s3cret", [REDIRECT], testing=True)
    flow = Flow.from_client_config(emu.client_config("testing-app"), scopes=[sc.READONLY],
                                   redirect_uri=REDIRECT)
    url, _state = flow.authorization_url(access_type="offline")
    token = flow.fetch_token(code=_query(emu.consent(url, email=ALICE))["code"])
    creds = Credentials(None, refresh_token=token["refresh_token"], token_uri=emu.token_uri,
                        client_id="testing-app", client_secret="s3cret")
    creds.refresh(Request())
    emu.control.advance_clock(7 * 24 * 3600 + 1)
    with pytest.raises(RefreshError, match="invalid_grant"):
        creds.refresh(Request())


def test_access_token_expiry_gives_401(emu: RunningEmulator, alice: Credentials) -> None:
    assert _profile(emu, alice.token).status_code == 200
    emu.control.advance_clock(3600)
    resp = _profile(emu, alice.token)
    assert resp.status_code == 401
    assert "invalid_token" in resp.headers["www-authenticate"]
    # google-auth refreshes an expired credential by itself and the call succeeds.
    alice.expiry = None
    alice.refresh(Request())
    assert gmail_service(emu, alice).users().getProfile(userId="me").execute()


def test_incremental_authorization_accumulates_scopes(emu: RunningEmulator) -> None:
    _connect(emu, [sc.READONLY])
    _, token = _connect(emu, [sc.SEND], include_granted_scopes="true")
    granted = token["scope"] if isinstance(token["scope"], list) else token["scope"].split()
    assert set(granted) == {sc.READONLY, sc.SEND}
    _, token = _connect(emu, [sc.LABELS])
    granted = token["scope"] if isinstance(token["scope"], list) else token["scope"].split()
    assert granted == [sc.LABELS]


def test_per_client_refresh_token_limit(emu: RunningEmulator) -> None:
    emu.control.set_settings(refresh_tokens_per_client=2)
    try:
        first = emu.control.mint_tokens(ALICE, [sc.READONLY])["refresh_token"]
        emu.control.mint_tokens(ALICE, [sc.READONLY])
        emu.control.mint_tokens(ALICE, [sc.READONLY])
        resp = httpx.post(emu.token_uri, data={
            "grant_type": "refresh_token", "refresh_token": first, "client_id": CLIENT_ID,
            "client_secret": "emulator-secret"})
        assert resp.json()["error"] == "invalid_grant"
    finally:
        emu.control.set_settings(refresh_tokens_per_client=100)


def test_client_authentication_errors(emu: RunningEmulator) -> None:
    resp = httpx.post(emu.token_uri, data={"grant_type": "refresh_token", "refresh_token": "x",
                                           "client_id": CLIENT_ID, "client_secret": "wrong"})
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    resp = httpx.post(emu.token_uri, data={"grant_type": "password"},
                      auth=(CLIENT_ID, "emulator-secret"))
    assert resp.json()["error"] == "unsupported_grant_type"


def test_openid_discovery_and_jwks(emu: RunningEmulator) -> None:
    conf = httpx.get(f"{emu.base_url}/.well-known/openid-configuration").json()
    assert conf["jwks_uri"] == emu.certs_uri
    keys = httpx.get(emu.certs_uri).json()["keys"]
    assert keys[0]["alg"] == "RS256" and keys[0]["kty"] == "RSA"


def test_refresh_token_only_on_first_consent_unless_prompted(emu: RunningEmulator) -> None:
    def once(prompt: str | None) -> dict[str, Any]:
        flow = _flow(emu, [sc.READONLY])
        kwargs = {"prompt": prompt} if prompt else {}
        url, _state = flow.authorization_url(access_type="offline", login_hint=ALICE, **kwargs)
        return flow.fetch_token(code=_query(emu.consent(url))["code"])

    assert "refresh_token" in once(None)
    assert "refresh_token" not in once(None)
    assert "refresh_token" in once("consent")


def _refresh_status(emu: RunningEmulator, refresh_token: str) -> dict[str, Any]:
    return httpx.post(emu.token_uri, data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID,
        "client_secret": "emulator-secret"}).json()


def test_refresh_token_idle_and_forced_expiry(emu: RunningEmulator) -> None:
    used = emu.control.mint_tokens(ALICE, [sc.READONLY])["refresh_token"]
    idle = emu.control.mint_tokens(ALICE, [sc.READONLY])["refresh_token"]
    emu.control.advance_clock(100 * 24 * 3600)
    assert "access_token" in _refresh_status(emu, used)
    emu.control.advance_clock(100 * 24 * 3600)  # idle has now been unused for 200 days
    assert _refresh_status(emu, idle)["error"] == "invalid_grant"
    assert "access_token" in _refresh_status(emu, used)
    assert emu.control.expire_refresh_tokens(ALICE) >= 1
    assert _refresh_status(emu, used)["error"] == "invalid_grant"
