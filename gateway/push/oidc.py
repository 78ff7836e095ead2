"""Verifying the OIDC token Pub/Sub puts on every push request.

A push subscription configured with authentication sends `Authorization: Bearer <JWT>`: a Google
ID token signed RS256 by Google, with `aud` = the audience configured on the subscription,
`iss` = `accounts.google.com` or `https://accounts.google.com`, `email` = the subscription's
service account and `email_verified` = true. Anyone can POST to the endpoint, so every one of
those is checked before the body is even parsed:

- signature and expiry: google-auth's `id_token.verify_token` against `settings.push_certs_uri`
  (Google's PEM certificates in production, the emulator's in dev/test), audience included;
- issuer, service-account email and `email_verified`: checked here (google-auth checks the
  issuer only in `verify_oauth2_token`, which is hard-wired to Google's certificate URL).

The certificates are fetched through `CachingCertsRequest`, which keeps the response for the
`max-age` Google sends (hours), so a push costs no outgoing request. A token whose key id is not
in the cached set (Google rotated its keys) triggers one refetch, at most every
`REFETCH_INTERVAL` seconds, so forged tokens with made-up key ids cannot make the gateway hammer
the certificate endpoint.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.auth import exceptions as google_exceptions
from google.auth import transport
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import id_token

from gateway.kit.errors import AuthenticationError, GatewayError, Unavailable
from gateway.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 300.0  # when the certificate response carries no usable Cache-Control
MAX_MAX_AGE = 24 * 3600.0
REFETCH_INTERVAL = 30.0  # the least time between two fetches forced by an unknown key id
CLOCK_SKEW_SECONDS = 10
MAX_TOKEN_LENGTH = 8192
_MAX_AGE = re.compile(r"max-age=(\d+)")


class PushTokenInvalid(AuthenticationError):
    """No token, or one that is not a valid Google-signed token for this endpoint."""

    code = "push_token_invalid"
    title = "Push authentication failed"


class PushSenderForbidden(GatewayError):
    """A valid Google token, but not from the service account the subscription signs as."""

    status = 403
    code = "push_sender_forbidden"
    title = "Push sender not allowed"


@dataclass(frozen=True)
class PushIdentity:
    """Who signed a verified push: the service account, and the token's subject."""

    email: str
    subject: str
    issuer: str


class CachingCertsRequest(transport.Request):
    """A google-auth transport `Request` that caches successful GETs of the certificate URL
    for their `Cache-Control: max-age`. Other requests pass straight through."""

    def __init__(self, certs_url: str, inner: transport.Request | None = None,
                 *, clock: Any = time.monotonic) -> None:
        self.certs_url = certs_url
        self._inner = inner or GoogleRequest()
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: transport.Response | None = None
        self._expires = 0.0
        self._fetched_at: float | None = None
        self.fetches = 0

    def __call__(self, url: str, method: str = "GET", body: Any = None,
                 headers: Mapping[str, str] | None = None, timeout: float | None = None,
                 **kwargs: Any) -> transport.Response:
        if url != self.certs_url or method != "GET":
            passed: transport.Response = self._inner(url, method=method, body=body,
                                                     headers=headers, timeout=timeout, **kwargs)
            return passed
        with self._lock:
            now = self._clock()
            if self._cached is not None and now < self._expires:
                return self._cached
            response: transport.Response = self._inner(url, method="GET", headers=headers,
                                                       timeout=timeout or 10, **kwargs)
            self.fetches += 1
            self._fetched_at = now
            if response.status == 200:
                self._cached = response
                self._expires = now + _max_age(response.headers)
            return response

    def invalidate(self) -> bool:
        """Forget the cached certificates unless they were fetched very recently; True if a
        refetch will happen (used when a token names a key id the cache does not know)."""
        with self._lock:
            now = self._clock()
            if self._fetched_at is not None and now - self._fetched_at < REFETCH_INTERVAL:
                return False
            self._cached = None
            self._expires = 0.0
            return True


def _max_age(headers: Mapping[str, str]) -> float:
    value = next((v for k, v in headers.items() if k.lower() == "cache-control"), "")
    found = _MAX_AGE.search(value)
    if found is None:
        return DEFAULT_MAX_AGE
    return min(float(found.group(1)), MAX_MAX_AGE)


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise PushTokenInvalid("push requests must carry Pub/Sub's OIDC token as "
                               "'Authorization: Bearer <token>'", code="push_token_missing")
    if len(token) > MAX_TOKEN_LENGTH:
        raise PushTokenInvalid("the push token is not valid")
    return token


class PushTokenVerifier:
    """Checks Pub/Sub push tokens against the settings' audience, issuers and service account."""

    def __init__(self, settings: Settings, request: CachingCertsRequest | None = None) -> None:
        if not settings.push_service_account:
            # Outside prod without an emulator nothing says who may push: refuse every push
            # rather than accept any Google-signed token (prod refuses to start instead).
            log.warning("GATEWAY_PUSH_SERVICE_ACCOUNT is unset: every push will be refused")
        self.audience = settings.push_expected_audience
        self.service_account = (settings.push_service_account or "").lower()
        self.issuers = frozenset(settings.push_issuers)
        self.request = request or CachingCertsRequest(settings.push_certs_uri)

    def verify(self, authorization: str | None) -> PushIdentity:
        token = bearer_token(authorization)
        claims = self._verified_claims(token)
        issuer = claims.get("iss")
        if issuer not in self.issuers:
            raise PushTokenInvalid("the push token was not issued by Google",
                                   code="push_token_invalid")
        email = claims.get("email")
        if (not self.service_account or not isinstance(email, str)
                or email.lower() != self.service_account):
            raise PushSenderForbidden("the push token is not from the configured Pub/Sub "
                                      "service account")
        if claims.get("email_verified") is not True:
            raise PushSenderForbidden("the push token's email is not verified")
        return PushIdentity(email=email, subject=str(claims.get("sub", "")), issuer=issuer)

    def _verified_claims(self, token: str) -> Mapping[str, Any]:
        try:
            return self._decode(token)
        except _UnknownKey:
            if not self.request.invalidate():
                raise PushTokenInvalid("the push token is not valid") from None
            try:
                return self._decode(token)
            except _UnknownKey:
                raise PushTokenInvalid("the push token is not valid") from None

    def _decode(self, token: str) -> Mapping[str, Any]:
        try:
            claims: Mapping[str, Any] = id_token.verify_token(
                token, self.request, audience=self.audience,
                certs_url=self.request.certs_url, clock_skew_in_seconds=CLOCK_SKEW_SECONDS)
        except google_exceptions.TransportError:
            log.warning("push:token:certs_unavailable")
            raise Unavailable("the push token cannot be verified now (Google's certificates "
                              "are unreachable); retry later",
                              code="push_verification_unavailable") from None
        except (ValueError, google_exceptions.GoogleAuthError, TypeError, KeyError) as exc:
            if "not found" in str(exc) and "key id" in str(exc).lower():
                raise _UnknownKey from None
            log.info("push:token:rejected reason=%s", _reason(exc))
            raise PushTokenInvalid("the push token is not valid") from None
        if not isinstance(claims, Mapping):
            raise PushTokenInvalid("the push token is not valid")
        return claims


class _UnknownKey(Exception):
    """The token's key id is not among the cached certificates."""


def _reason(exc: Exception) -> str:
    """A short, content-free reason for the log line (never the token or its claims)."""
    text = str(exc).lower()
    for needle, reason in (("expired", "expired"), ("audience", "audience"),
                           ("signature", "signature"), ("too early", "not_yet_valid"),
                           ("segments", "malformed"), ("algorithm", "algorithm")):
        if needle in text:
            return reason
    return type(exc).__name__
