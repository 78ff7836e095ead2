"""Token lifecycle: codes, access and refresh tokens, ID tokens, revocation and the events
that kill refresh tokens at Google (revocation, password change, idle or testing expiry,
the per-client limit)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from . import scopes as sc
from .errors import OAuthError
from .keys import at_hash
from .state import AccessToken, AuthCode, EmulatorState, Grant, OAuthClient, RefreshToken

ISSUER = "https://accounts.google.com"
_EXPIRED = "Token has been expired or revoked."


def authenticate_client(state: EmulatorState, client_id: str | None,
                        client_secret: str | None) -> OAuthClient:
    client = state.clients.get(client_id or "")
    if client is None:
        raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
    if client_secret is not None and not secrets.compare_digest(client_secret,
                                                                client.client_secret):
        raise OAuthError("invalid_client", "Unauthorized", 401)
    if client_secret is None:
        raise OAuthError("invalid_request", "client_secret is missing.")
    return client


def issue_code(state: EmulatorState, *, email: str, client_id: str, redirect_uri: str,
               scopes: list[str], offline: bool, code_challenge: str | None,
               code_challenge_method: str | None, nonce: str | None) -> str:
    code = "4/0A" + secrets.token_urlsafe(48)
    with state.lock:
        state.codes[code] = AuthCode(
            code=code, email=email, client_id=client_id, redirect_uri=redirect_uri,
            scopes=scopes, offline=offline, code_challenge=code_challenge,
            code_challenge_method=code_challenge_method, nonce=nonce,
            expires=state.clock.now() + state.settings.auth_code_lifetime,
        )
    return code


def record_grant(state: EmulatorState, email: str, client_id: str,
                 scopes: list[str]) -> list[str]:
    """Add scopes to the user's grant for the client; returns all scopes now granted."""
    with state.lock:
        grant = state.grants.get((email, client_id))
        if grant is None:
            grant = Grant(email, client_id, [])
            state.grants[(email, client_id)] = grant
        for scope in scopes:
            if scope not in grant.scopes:
                grant.scopes.append(scope)
        return list(grant.scopes)


def _check_pkce(code: AuthCode, verifier: str | None) -> None:
    if code.code_challenge is None:
        return
    if not verifier:
        raise OAuthError("invalid_grant", "Missing code verifier.")
    if code.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        computed = verifier
    if not secrets.compare_digest(computed, code.code_challenge):
        raise OAuthError("invalid_grant", "Invalid code verifier.")


def _access_token(state: EmulatorState, email: str, client_id: str, scopes: list[str],
                  refresh: str | None) -> AccessToken:
    token = AccessToken(
        token="ya29.emu-" + secrets.token_urlsafe(40), email=email, client_id=client_id,
        scopes=list(scopes), expires=state.clock.now() + state.settings.access_token_lifetime,
        refresh_token=refresh,
    )
    state.access_tokens[token.token] = token
    return token


def _id_token(state: EmulatorState, email: str, client_id: str, scopes: list[str],
              access: str, nonce: str | None) -> str:
    user = state.users[email]
    now = int(state.clock.now())
    claims: dict[str, Any] = {
        "iss": ISSUER, "azp": client_id, "aud": client_id, "sub": user.sub,
        "at_hash": at_hash(access), "iat": now, "exp": now + 3600,
    }
    if sc.EMAIL in scopes:
        claims["email"] = user.email
        claims["email_verified"] = True
    if sc.PROFILE in scopes:
        claims["name"] = user.name
        parts = user.name.split(" ", 1)
        claims["given_name"] = parts[0]
        if len(parts) > 1:
            claims["family_name"] = parts[1]
    if nonce:
        claims["nonce"] = nonce
    return state.key.sign_jwt(claims)


def _token_response(state: EmulatorState, access: AccessToken, *, refresh: str | None,
                    nonce: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": access.token,
        "expires_in": state.settings.access_token_lifetime,
        "scope": " ".join(access.scopes),
        "token_type": "Bearer",
    }
    if refresh:
        body["refresh_token"] = refresh
    if sc.OPENID in access.scopes:
        body["id_token"] = _id_token(state, access.email, access.client_id, access.scopes,
                                     access.token, nonce)
    return body


def _new_refresh(state: EmulatorState, email: str, client: OAuthClient,
                 scopes: list[str]) -> RefreshToken:
    now = state.clock.now()
    token = RefreshToken(
        token="1//0emu-" + secrets.token_urlsafe(48), email=email, client_id=client.client_id,
        scopes=list(scopes), issued=now, last_used=now,
        expires=now + state.settings.testing_mode_refresh_lifetime if client.testing else None,
    )
    state.refresh_tokens[token.token] = token
    live = sorted(
        (t for t in state.refresh_tokens.values()
         if t.email == email and t.client_id == client.client_id and not t.revoked),
        key=lambda t: t.issued,
    )
    # Google silently invalidates the oldest token past the per-client limit.
    for old in live[: max(0, len(live) - state.settings.refresh_tokens_per_client)]:
        old.revoked = True
    return token


def exchange_code(state: EmulatorState, form: dict[str, str]) -> dict[str, Any]:
    client = authenticate_client(state, form.get("client_id"), form.get("client_secret"))
    with state.lock:
        code = state.codes.get(form.get("code", ""))
        if code is None:
            raise OAuthError("invalid_grant", "Malformed auth code.")
        if code.used or code.expires < state.clock.now() or code.client_id != client.client_id:
            code.used = True
            raise OAuthError("invalid_grant", "Bad Request")
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthError("redirect_uri_mismatch", "Bad Request")
        _check_pkce(code, form.get("code_verifier"))
        code.used = True
        refresh = (_new_refresh(state, code.email, client, code.scopes).token
                   if code.offline else None)
        access = _access_token(state, code.email, client.client_id, code.scopes, refresh)
        return _token_response(state, access, refresh=refresh, nonce=code.nonce)


def _refresh_alive(state: EmulatorState, token: RefreshToken | None) -> RefreshToken:
    now = state.clock.now()
    if token is None or token.revoked:
        raise OAuthError("invalid_grant", _EXPIRED)
    if token.expires is not None and token.expires <= now:
        token.revoked = True
        raise OAuthError("invalid_grant", _EXPIRED)
    if now - token.last_used > state.settings.refresh_token_idle_expiry:
        token.revoked = True
        raise OAuthError("invalid_grant", _EXPIRED)
    if (token.email, token.client_id) not in state.grants:
        raise OAuthError("invalid_grant", _EXPIRED)
    return token


def refresh(state: EmulatorState, form: dict[str, str]) -> dict[str, Any]:
    client = authenticate_client(state, form.get("client_id"), form.get("client_secret"))
    with state.lock:
        token = _refresh_alive(state, state.refresh_tokens.get(form.get("refresh_token", "")))
        if token.client_id != client.client_id:
            raise OAuthError("unauthorized_client", "Unauthorized")
        scopes = token.scopes
        if form.get("scope"):
            requested = sc.normalise(form["scope"])
            if not set(requested) <= set(token.scopes):
                raise OAuthError("invalid_scope",
                                 "Some requested scopes were invalid. {invalid="
                                 + ", ".join(s for s in requested if s not in token.scopes)
                                 + "}")
            scopes = requested
        token.last_used = state.clock.now()
        access = _access_token(state, token.email, client.client_id, scopes, token.token)
        return _token_response(state, access, refresh=None, nonce=None)


def revoke_grant(state: EmulatorState, email: str, client_id: str | None = None) -> int:
    """Revoke a user's grant (for one client or all): every token dies. Returns tokens killed."""
    killed = 0
    with state.lock:
        for key in [k for k in state.grants if k[0] == email and client_id in (None, k[1])]:
            del state.grants[key]
        for rt in state.refresh_tokens.values():
            if rt.email == email and client_id in (None, rt.client_id) and not rt.revoked:
                rt.revoked = True
                killed += 1
        for at in state.access_tokens.values():
            if at.email == email and client_id in (None, at.client_id) and not at.revoked:
                at.revoked = True
                killed += 1
    return killed


def revoke_token(state: EmulatorState, token: str) -> None:
    with state.lock:
        rt = state.refresh_tokens.get(token)
        at = state.access_tokens.get(token)
        if rt is not None and not rt.revoked:
            revoke_grant(state, rt.email, rt.client_id)
            return
        if at is not None and not at.revoked and at.expires > state.clock.now():
            revoke_grant(state, at.email, at.client_id)
            return
    raise OAuthError("invalid_token", "Token expired or revoked")


def password_change(state: EmulatorState, email: str) -> int:
    """Google revokes refresh tokens carrying Gmail scopes when the password changes."""
    killed = 0
    with state.lock:
        for rt in state.refresh_tokens.values():
            if rt.email == email and not rt.revoked and any(sc.is_gmail(s) for s in rt.scopes):
                rt.revoked = True
                killed += 1
    return killed


def expire_refresh_tokens(state: EmulatorState, email: str) -> int:
    killed = 0
    with state.lock:
        for rt in state.refresh_tokens.values():
            if rt.email == email and not rt.revoked:
                rt.expires = state.clock.now() - 1
                killed += 1
    return killed


def has_live_refresh(state: EmulatorState, email: str, client_id: str) -> bool:
    with state.lock:
        return any(t.email == email and t.client_id == client_id and not t.revoked
                   for t in state.refresh_tokens.values())


def lookup_access(state: EmulatorState, token: str) -> AccessToken | None:
    at = state.access_tokens.get(token)
    if at is None or at.revoked or at.expires <= state.clock.now():
        return None
    return at


def mint(state: EmulatorState, email: str, client_id: str, scopes: list[str],
         offline: bool = True) -> dict[str, Any]:
    """Issue tokens without the browser dance (control API, for tests that skip consent)."""
    client = state.clients.get(client_id)
    if client is None:
        raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
    with state.lock:
        state.add_user(email)
        email = email.lower()
        record_grant(state, email, client_id, scopes)
        refresh_token = _new_refresh(state, email, client, scopes).token if offline else None
        access = _access_token(state, email, client_id, scopes, refresh_token)
        return _token_response(state, access, refresh=refresh_token, nonce=None)
