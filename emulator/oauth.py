"""Google's OAuth 2.0 / OpenID Connect endpoints, as the client libraries see them.

Paths: ``/o/oauth2/auth`` (and ``/o/oauth2/v2/auth``), ``/token``, ``/revoke``,
``/oauth2/v3/userinfo``, ``/oauth2/v3/tokeninfo`` (and ``/tokeninfo``), ``/oauth2/v3/certs``,
``/.well-known/openid-configuration``."""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from . import scopes as sc
from . import tokens
from .errors import OAuthError
from .keys import decode_jwt_unverified
from .oauth_pages import consent_page, error_page
from .state import EmulatorState, PendingConsent

_NO_STORE = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
             "Pragma": "no-cache"}


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


def _oauth_error(exc: OAuthError) -> JSONResponse:
    return _json(exc.body(), exc.status)


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


async def read_form(request: Request) -> dict[str, str]:
    """URL-encoded body plus query string (Google accepts parameters in either)."""
    body = (await request.body()).decode("utf-8", "replace")
    form = dict(parse_qsl(request.url.query))
    form.update(parse_qsl(body, keep_blank_values=True))
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            cid, secret = "", ""
        form.setdefault("client_id", cid)
        form.setdefault("client_secret", secret)
    return form


def _known_scope(scope: str) -> bool:
    return scope in sc.DESCRIPTIONS or scope.startswith("https://www.googleapis.com/auth/")


def build_router(state: EmulatorState) -> APIRouter:
    router = APIRouter()

    def _page(code: int, error: str, detail: str) -> HTMLResponse:
        return HTMLResponse(error_page(code, error, detail), status_code=code)

    @router.get("/o/oauth2/auth", include_in_schema=False)
    @router.get("/o/oauth2/v2/auth", include_in_schema=False)
    def authorize(request: Request) -> Response:
        q = dict(request.query_params)
        client = state.clients.get(q.get("client_id", ""))
        if client is None:
            return _page(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return _page(400, "redirect_uri_mismatch",
                         f"You can't sign in to this app because it doesn't comply with "
                         f"Google's OAuth 2.0 policy. redirect_uri={redirect_uri}")
        requested = sc.normalise(q.get("scope", ""))
        if not requested:
            return _page(400, "invalid_request", "Missing required parameter: scope")
        bad = [s for s in requested if not _known_scope(s)]
        if bad:
            return _page(400, "invalid_scope", "Some requested scopes were invalid. {invalid="
                         + ", ".join(bad) + "}")
        extra = {"state": q["state"]} if "state" in q else {}
        if q.get("response_type") != "code":
            return RedirectResponse(_with_query(redirect_uri, {
                "error": "unsupported_response_type", **extra}), status_code=302)
        challenge = q.get("code_challenge")
        method = q.get("code_challenge_method")
        if challenge is not None and method != "S256":
            return _page(400, "invalid_request",
                         "Invalid code_challenge_method: only S256 is accepted.")
        if method is not None and challenge is None:
            return _page(400, "invalid_request", "Missing code_challenge.")
        pending = PendingConsent(
            txn=secrets.token_urlsafe(24), client_id=client.client_id, redirect_uri=redirect_uri,
            scopes=requested, state=q.get("state"), offline=q.get("access_type") == "offline",
            include_granted=q.get("include_granted_scopes") == "true",
            code_challenge=challenge, code_challenge_method=method, nonce=q.get("nonce"),
            login_hint=q.get("login_hint"), created=state.clock.now(), prompt=q.get("prompt"),
        )
        with state.lock:
            state.pending[pending.txn] = pending
            users = sorted(state.users.values(), key=lambda u: u.email)
            already: list[str] = []
            if pending.login_hint:
                grant = state.grants.get((pending.login_hint.lower(), client.client_id))
                already = list(grant.scopes) if grant else []
        return HTMLResponse(consent_page(pending, client, users, already))

    @router.post("/o/oauth2/approve", include_in_schema=False)
    async def approve(request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace")
        pairs = parse_qsl(body, keep_blank_values=True)
        form = dict(pairs)
        with state.lock:
            pending = state.pending.pop(form.get("txn", ""), None)
        if pending is None or state.clock.now() - pending.created > 3600:
            return _page(400, "invalid_request", "This consent request has expired.")
        extra = {"state": pending.state} if pending.state is not None else {}
        if form.get("action") != "approve":
            return RedirectResponse(_with_query(pending.redirect_uri, {
                "error": "access_denied", **extra}), status_code=302)
        email = (form.get("email") or form.get("account") or "").strip().lower()
        if "@" not in email:
            return _page(400, "invalid_request", "An account email is required.")
        if state.user(email) is None:
            if not state.settings.auto_create_users:
                return _page(400, "invalid_request", f"Unknown account {email}.")
            state.add_user(email)
        ticked = [v for k, v in pairs if k == "scope"]
        approved = [s for s in pending.scopes if s in ticked]
        all_granted = tokens.record_grant(state, email, pending.client_id, approved)
        code_scopes = all_granted if pending.include_granted else approved
        # Like Google: a refresh token comes with the first offline consent only; later ones
        # need prompt=consent to get another.
        offline = pending.offline and (
            "consent" in (pending.prompt or "").split()
            or not state.settings.refresh_token_only_on_first_consent
            or not tokens.has_live_refresh(state, email, pending.client_id))
        code = tokens.issue_code(
            state, email=email, client_id=pending.client_id, redirect_uri=pending.redirect_uri,
            scopes=code_scopes, offline=offline, code_challenge=pending.code_challenge,
            code_challenge_method=pending.code_challenge_method, nonce=pending.nonce,
        )
        params = {**extra, "code": code, "scope": " ".join(code_scopes), "authuser": "0",
                  "prompt": pending.prompt or "consent"}
        return RedirectResponse(_with_query(pending.redirect_uri, params), status_code=302)

    @router.post("/token", include_in_schema=False)
    @router.post("/o/oauth2/token", include_in_schema=False)
    async def token(request: Request) -> Response:
        form = await read_form(request)
        grant_type = form.get("grant_type")
        try:
            if grant_type == "authorization_code":
                return _json(tokens.exchange_code(state, form))
            if grant_type == "refresh_token":
                return _json(tokens.refresh(state, form))
            raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        except OAuthError as exc:
            return _oauth_error(exc)

    @router.post("/revoke", include_in_schema=False)
    @router.get("/revoke", include_in_schema=False)
    @router.post("/o/oauth2/revoke", include_in_schema=False)
    async def revoke(request: Request) -> Response:
        form = await read_form(request)
        try:
            tokens.revoke_token(state, form.get("token", ""))
        except OAuthError as exc:
            return _oauth_error(exc)
        return _json({})

    @router.get("/oauth2/v3/tokeninfo", include_in_schema=False)
    @router.post("/oauth2/v3/tokeninfo", include_in_schema=False)
    @router.get("/tokeninfo", include_in_schema=False)
    @router.post("/tokeninfo", include_in_schema=False)
    async def tokeninfo(request: Request) -> Response:
        form = await read_form(request)
        invalid = _json({"error": "invalid_token", "error_description": "Invalid Value"}, 400)
        if "id_token" in form:
            try:
                claims = decode_jwt_unverified(form["id_token"])
            except ValueError:
                return invalid
            if claims.get("exp", 0) < state.clock.now():
                return invalid
            return _json({k: str(v) if not isinstance(v, str) else v for k, v in claims.items()}
                         | {"alg": "RS256", "kid": state.key.kid, "typ": "JWT"})
        at = tokens.lookup_access(state, form.get("access_token", ""))
        if at is None:
            return invalid
        user = state.users[at.email]
        expires_in = int(at.expires - state.clock.now())
        body = {"azp": at.client_id, "aud": at.client_id, "sub": user.sub,
                "scope": " ".join(at.scopes), "exp": str(int(at.expires)),
                "expires_in": str(expires_in)}
        if sc.EMAIL in at.scopes:
            body |= {"email": user.email, "email_verified": "true"}
        if at.refresh_token:
            body["access_type"] = "offline"
        return _json(body)

    @router.get("/oauth2/v3/userinfo", include_in_schema=False)
    @router.get("/v1/userinfo", include_in_schema=False)
    @router.get("/oauth2/v2/userinfo", include_in_schema=False)
    def userinfo(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        at = tokens.lookup_access(state, auth[7:] if auth.lower().startswith("bearer ") else "")
        if at is None:
            return JSONResponse(
                {"error": "invalid_request", "error_description": "Invalid Credentials"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                         'error="invalid_token"'})
        user = state.users[at.email]
        body: dict[str, Any] = {"sub": user.sub}
        if sc.PROFILE in at.scopes:
            first, _, last = user.name.partition(" ")
            body |= {"name": user.name, "given_name": first}
            if last:
                body["family_name"] = last
        if sc.EMAIL in at.scopes:
            body |= {"email": user.email, "email_verified": True}
        return _json(body)

    @router.get("/oauth2/v1/certs", include_in_schema=False)
    def certs_v1() -> Response:
        return JSONResponse({state.key.kid: state.key.certificate_pem()},
                            headers={"Cache-Control": "public, max-age=3600"})

    @router.get("/oauth2/v3/certs", include_in_schema=False)
    def certs() -> Response:
        return JSONResponse({"keys": [state.key.jwk()]},
                            headers={"Cache-Control": "public, max-age=3600"})

    @router.get("/.well-known/openid-configuration", include_in_schema=False)
    def discovery() -> Response:
        base = state.settings.base_url.rstrip("/")
        return JSONResponse({
            "issuer": tokens.ISSUER,
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/v1/userinfo",
            "revocation_endpoint": f"{base}/revoke",
            "jwks_uri": f"{base}/oauth2/v3/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                      "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        })

    return router
