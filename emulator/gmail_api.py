"""The Gmail API v1 dispatcher: routing, bearer-token and scope checks, quota, faults and
Google's error bodies. HTTP routes and the batch endpoint both go through ``dispatch``."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import errors, fields
from . import scopes as sc
from .errors import GoogleApiError
from .mailbox import Mailbox
from .quota import QuotaMeter, rate_limited
from .state import AccessToken, EmulatorState, User
from .tokens import lookup_access

log = logging.getLogger(__name__)
JSON_TYPE = "application/json; charset=UTF-8"


@dataclass
class ApiRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclass
class ApiResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Ctx:
    state: EmulatorState
    user: User
    token: AccessToken
    params: dict[str, str]
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    upload: bool
    method_id: str
    base_url: str
    # Work to run after the mailbox lock is released (e.g. delivering to another mailbox).
    after: list[Callable[[], None]] = field(default_factory=list)

    @property
    def mailbox(self) -> Mailbox:
        return self.user.mailbox

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.qlist(name)
        return values[-1] if values else default

    def qlist(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]

    def qint(self, name: str, default: int, maximum: int | None = None) -> int:
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise errors.invalid_argument(f"Invalid value for {name}: {raw}") from exc
        if value < 0:
            raise errors.invalid_argument(f"Invalid value for {name}: {raw}")
        return min(value, maximum) if maximum is not None else value

    def qbool(self, name: str, default: bool = False) -> bool:
        raw = self.q(name)
        if raw is None:
            return default
        return raw.lower() in ("true", "1")

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.invalid_argument("Invalid JSON payload received.") from exc
        if not isinstance(value, dict):
            raise errors.invalid_argument("Invalid JSON payload received. Expected an object.")
        return value

    def scopes_only_metadata(self) -> bool:
        granted = set(self.token.scopes)
        return sc.METADATA in granted and not granted & {
            sc.FULL_MAILBOX, sc.MODIFY, sc.READONLY}


Handler = Callable[[Ctx], dict[str, Any] | None]


@dataclass
class Route:
    http_method: str
    pattern: re.Pattern[str]
    method_id: str
    handler: Handler
    upload: bool = False


ROUTES: list[Route] = []
_PREFIX = r"/gmail/v1/users/(?P<userId>[^/]+)/"
_UPLOAD_PREFIX = r"/upload/gmail/v1/users/(?P<userId>[^/]+)/"


def route(http_method: str, path: str, method_id: str, *, upload: bool = False
          ) -> Callable[[Handler], Handler]:
    """Register a handler; ``path`` is relative to ``users/{userId}/`` with ``{name}`` params."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)

    def deco(fn: Handler) -> Handler:
        ROUTES.append(Route(http_method, re.compile(_PREFIX + regex + "$"), method_id, fn))
        if upload:
            ROUTES.append(Route(http_method, re.compile(_UPLOAD_PREFIX + regex + "$"),
                                method_id, fn, upload=True))
        return fn
    return deco


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> ApiResponse:
    data = json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    return ApiResponse(status, data, {"Content-Type": JSON_TYPE, "Vary": "Origin, X-Origin",
                                      **(headers or {})})


def error_response(exc: GoogleApiError) -> ApiResponse:
    return json_response(exc.code, exc.body(), exc.headers)


def _scripted_error(script: dict[str, Any], now: float) -> GoogleApiError:
    """A scripted failure: a 429 (or any status with ``retry_after``) is Google's rate-limit
    answer (``rateLimitExceeded``, Retry-After, 1 s unless ``retry_after`` says), anything else
    a backend error."""
    status = int(script.get("status", 500))
    if status == 429 or "retry_after" in script:
        return rate_limited(int(script.get("retry_after", 1)), now, status)
    return errors.backend_error(status)


class GmailApi:
    def __init__(self, state: EmulatorState, quota: QuotaMeter) -> None:
        self.state = state
        self.quota = quota
        # Importing registers the handlers.
        from . import gmail_drafts, gmail_labels, gmail_messages, gmail_threads, gmail_users
        self._modules = (gmail_drafts, gmail_labels, gmail_messages, gmail_threads, gmail_users)

    def _match(self, req: ApiRequest) -> tuple[Route, dict[str, str]]:
        path_matched = False
        for r in ROUTES:
            m = r.pattern.match(req.path)
            if m:
                path_matched = True
                if r.http_method == req.method:
                    return r, m.groupdict()
        if path_matched:
            raise GoogleApiError(405, "Method Not Allowed", reason="httpMethodNotAllowed")
        raise GoogleApiError(404, f"Method not found: {req.path}", reason="notFound")

    def _faults(self, method_id: str, *, after: bool = False) -> None:
        """Scripted failures happen before the call; a script with ``"after": true`` lets the
        call take effect and then fails it (a lost answer: the caller cannot tell it happened)."""
        faults = self.state.faults
        for script in list(faults.fail_next):
            if bool(script.get("after", False)) != after:
                continue
            if script.get("method") in (None, "*", method_id) and script.get("count", 1) > 0:
                script["count"] = script.get("count", 1) - 1
                if script["count"] <= 0:
                    faults.fail_next.remove(script)
                raise _scripted_error(script, self.state.clock.now())
        if after:
            return
        if faults.latency_ms or faults.latency_jitter_ms:
            jitter = self.state.rng.uniform(0, faults.latency_jitter_ms)
            time.sleep((faults.latency_ms + jitter) / 1000)
        if faults.error_rate and self.state.rng.random() < faults.error_rate:
            raise errors.backend_error(faults.error_status)

    def _authenticate(self, req: ApiRequest, fallback_auth: str | None) -> AccessToken:
        auth = req.headers.get("authorization") or fallback_auth or ""
        if not auth.lower().startswith("bearer "):
            raise errors.unauthenticated()
        token = lookup_access(self.state, auth[7:].strip())
        if token is None:
            raise errors.unauthenticated()
        return token

    def dispatch(self, req: ApiRequest, *, fallback_auth: str | None = None) -> ApiResponse:
        try:
            r, params = self._match(req)
            token = self._authenticate(req, fallback_auth)
            user_id = params.pop("userId")
            if user_id != "me" and user_id.lower() != token.email:
                raise errors.forbidden(f"Delegation denied for {user_id}")
            if not set(token.scopes) & set(sc.METHOD_SCOPES[r.method_id]):
                raise errors.insufficient_scopes(r.method_id)
            user = self.state.users[token.email]
            with self.quota.concurrent(token.email):
                self.quota.charge(token.email, sc.METHOD_COST.get(r.method_id, 5))
                self._faults(r.method_id)
                ctx = Ctx(self.state, user, token, params, req.query, req.headers, req.body,
                          r.upload, r.method_id, self.state.settings.base_url)
                with user.mailbox.lock:
                    result = r.handler(ctx)
            for action in ctx.after:
                action()
            self._faults(r.method_id, after=True)
            if result is None:
                return ApiResponse(204, b"", {"Vary": "Origin, X-Origin"})
            selection = ctx.q("fields")
            if selection:
                result = fields.apply(result, fields.parse(selection))
            return json_response(200, result)
        except GoogleApiError as exc:
            return error_response(exc)
        except Exception:  # a bug must still answer like Google, not crash the server
            log.exception("unexpected error in %s %s", req.method, req.path)
            return error_response(errors.backend_error(500))
