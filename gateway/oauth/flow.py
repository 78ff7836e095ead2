"""Google's side of the consent: authorization URL, code exchange, identity, revocation.

Everything goes through `google-auth-oauthlib` (`Flow.from_client_config`) and `google-auth`,
with the endpoints from settings: the local emulator when `GATEWAY_EMULATOR_URL` is set, Google
otherwise.

PKCE without storing a verifier: the `state` is a 256-bit random value that only the user's
browser carries; the code verifier is HMAC-SHA256(pkce_key, state) in base64url (43 chars, the
S256 challenge is its SHA-256). The database keeps only SHA-256(state), so neither a copy of the
database nor an observer of the authorization request (which shows the challenge, never the
verifier) can redeem an intercepted code. `pkce_key` is derived from the server's API-key pepper
with a distinct label, so no extra secret has to be provisioned and the two uses never share a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from google.auth.exceptions import TransportError
from google.auth.transport.requests import Request as GoogleRequest
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2 import OAuth2Error  # type: ignore[import-untyped]

from gateway.kit.errors import Unavailable
from gateway.kit.timeutil import utcnow
from gateway.mailboxes.scopes import REVIEWED_SCOPES, UnreviewedScope
from gateway.settings import Settings

log = logging.getLogger(__name__)

HTTP_TIMEOUT_SECONDS = 10.0
_PKCE_LABEL = b"gmail-gateway/oauth/pkce-verifier/v1"


class GoogleNotConfigured(Unavailable):
    code = "google_not_configured"
    title = "Google OAuth is not configured"


class ExchangeFailed(Exception):
    """Google refused the authorization code (or could not be reached). `reason` is a short,
    stable code safe to show (`invalid_grant`, `redirect_uri_mismatch`, `unreachable`, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IdentityUnavailable(Exception):
    """The account's identity could not be read with the fresh access token."""


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scopes: list[str]


@dataclass(frozen=True)
class GoogleIdentity:
    subject: str
    email: str | None


def derive_pkce_key(pepper: bytes) -> bytes:
    return hmac.new(pepper, _PKCE_LABEL, hashlib.sha256).digest()


def state_hash(state: str) -> bytes:
    return hashlib.sha256(state.encode("utf-8")).digest()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_transport(settings: Settings, url: str) -> None:
    """oauthlib refuses http:// token endpoints; allow it only for a local emulator in dev/test,
    or in prod under GATEWAY_TEST_ONLY_ALLOW_EMULATOR_IN_PROD (production refuses
    GATEWAY_EMULATOR_URL and non-https endpoints at start-up otherwise)."""
    if url.startswith("https://"):
        return
    if settings.emulator_allowed and _is_loopback(url):
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
        return
    raise GoogleNotConfigured(f"refusing a non-https Google endpoint: {urlsplit(url).netloc}")


def _token_error(exc: BaseException) -> str:
    """A stable, secret-free reason from an OAuth error (oauthlib's or requests')."""
    if isinstance(exc, OAuth2Error):
        return str(exc.error or "oauth_error")[:64]
    return "unreachable"


class GoogleOAuth:
    def __init__(self, settings: Settings, pkce_key: bytes) -> None:
        self.settings = settings
        self._pkce_key = pkce_key
        self._http = requests.Session()

    # -- configuration ---------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        if not self.settings.google_client_id or self.settings.google_client_secret is None:
            raise GoogleNotConfigured("set GATEWAY_GOOGLE_CLIENT_ID and "
                                      "GATEWAY_GOOGLE_CLIENT_SECRET (or GATEWAY_EMULATOR_URL "
                                      "in development)")
        return self.settings.google_client_id

    @property
    def client_secret(self) -> str:
        secret = self.settings.google_client_secret
        if secret is None:
            raise GoogleNotConfigured("GATEWAY_GOOGLE_CLIENT_SECRET is not set")
        return secret.get_secret_value()

    def client_config(self) -> dict[str, Any]:
        return {"web": {
            "client_id": self.client_id, "client_secret": self.client_secret,
            "auth_uri": self.settings.google_auth_uri,
            "token_uri": self.settings.google_token_uri,
            "redirect_uris": [self.settings.oauth_redirect_uri],
        }}

    def code_verifier(self, state: str) -> str:
        return _b64url(hmac.new(self._pkce_key, state.encode("utf-8"), hashlib.sha256).digest())

    def _flow(self, state: str, scopes: list[str]) -> Flow:
        unreviewed = set(scopes) - REVIEWED_SCOPES
        if unreviewed:
            raise UnreviewedScope(f"refusing to request unreviewed scopes: {sorted(unreviewed)}")
        _check_transport(self.settings, self.settings.google_auth_uri)
        _check_transport(self.settings, self.settings.google_token_uri)
        return Flow.from_client_config(
            self.client_config(), scopes=scopes, redirect_uri=self.settings.oauth_redirect_uri,
            state=state, code_verifier=self.code_verifier(state),
            autogenerate_code_verifier=False)

    # -- the authorization request -----------------------------------------------------------------

    def authorization_url(self, state: str, scopes: list[str], *, force_consent: bool,
                          login_hint: str | None = None) -> str:
        """Google's consent URL: code flow, PKCE S256, offline access, incremental scopes."""
        params: dict[str, str] = {"access_type": "offline", "include_granted_scopes": "true"}
        if force_consent:  # Google only issues a new refresh token on a consent prompt
            params["prompt"] = "consent"
        if login_hint:
            params["login_hint"] = login_hint
        url, returned_state = self._flow(state, scopes).authorization_url(**params)
        assert returned_state == state
        return str(url)

    # -- the callback ------------------------------------------------------------------------------

    def exchange(self, state: str, code: str, scopes: list[str]) -> TokenGrant:
        """Trade the code (with the PKCE verifier) for tokens; ExchangeFailed on any refusal."""
        flow = self._flow(state, scopes)
        try:
            token = flow.fetch_token(code=code, timeout=HTTP_TIMEOUT_SECONDS)
        except Warning as changed:
            # oauthlib raises "Scope has changed" when the user unticked a scope (granular
            # consent) or Google added previously granted ones; the token is on the warning.
            token = getattr(changed, "token", None)
            if token is None:
                raise ExchangeFailed("scope_changed") from None
        except (OAuth2Error, requests.RequestException, ValueError) as exc:
            reason = _token_error(exc)
            log.warning("oauth:code:exchange_failed reason=%s", reason)
            raise ExchangeFailed(reason) from None
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise ExchangeFailed("no_access_token")
        granted = token.get("scope")
        if isinstance(granted, str):
            granted = granted.split()
        scopes_granted = sorted(set(granted)) if granted else sorted(set(scopes))
        expires_at = None
        if token.get("expires_at"):
            expires_at = datetime.fromtimestamp(float(token["expires_at"]), UTC)
        elif token.get("expires_in"):
            expires_at = utcnow() + timedelta(seconds=float(token["expires_in"]))
        refresh = token.get("refresh_token")
        return TokenGrant(access_token=access,
                          refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                          expires_at=expires_at, scopes=scopes_granted)

    def identity(self, access_token: str) -> GoogleIdentity:
        """The account behind the token, from the OpenID Connect userinfo endpoint (over TLS, with
        a token Google just issued to us, so no ID-token signature check is needed)."""
        try:
            response = GoogleRequest(self._http)(
                url=self.settings.google_userinfo_uri, method="GET",
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=HTTP_TIMEOUT_SECONDS)
        except TransportError:
            raise IdentityUnavailable("userinfo unreachable") from None
        if response.status != 200:
            raise IdentityUnavailable(f"userinfo answered {response.status}")
        try:
            body = json.loads(response.data)
        except ValueError:
            raise IdentityUnavailable("userinfo answered something else than JSON") from None
        subject = body.get("sub") if isinstance(body, dict) else None
        if not isinstance(subject, str) or not subject:
            raise IdentityUnavailable("userinfo has no subject")
        email = body.get("email")
        verified = body.get("email_verified") in (True, "true")
        return GoogleIdentity(subject=subject,
                              email=email if isinstance(email, str) and verified else None)

    # -- revocation --------------------------------------------------------------------------------

    def revoke(self, token: str) -> str:
        """Revoke the user's grant to this client at Google: "revoked", "already_invalid" (Google
        no longer knows the token), or "failed" (unreachable; the user should revoke in their
        Google account)."""
        try:
            response = GoogleRequest(self._http)(
                url=self.settings.google_revoke_uri, method="POST",
                body=urlencode({"token": token}).encode("ascii"),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=HTTP_TIMEOUT_SECONDS)
        except TransportError:
            log.warning("oauth:grant:revoke_failed reason=unreachable")
            return "failed"
        if response.status == 200:
            return "revoked"
        if response.status == 400:
            return "already_invalid"
        log.warning("oauth:grant:revoke_failed status=%s", response.status)
        return "failed"

    def close(self) -> None:
        self._http.close()
