"""FastAPI dependencies: who is calling (API key → principal) and for what purpose.

Both are `async`: FastAPI runs every sync dependency on its own trip through the thread pool
(~0.1-0.2 ms of CPU each under load, docs/mail-api.md#performance), and neither needs one in the
common case. The purpose is a header check; the caller comes from the per-process API-key cache
(gateway/accounts/key_cache.py, staleness bound documented there) and only a cache miss, or the
once-a-minute `last_used_at` write, goes to the database, in the thread pool, on the request's
session and transaction as before.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.accounts.caller import Caller as Caller
from gateway.accounts.key_cache import ApiKeyCache, CachedKey
from gateway.accounts.keys import display_prefix, hash_api_key, looks_like_api_key
from gateway.accounts.models import ApiKey
from gateway.kit.errors import AuthenticationError, BadRequest, GatewayError
from gateway.kit.timeutil import as_utc, utcnow
from gateway.policy.enforcement import Actor
from gateway.policy.refusals import ANONYMOUS, log_refusal
from gateway.policy.vocabulary import DECLARED_PURPOSES
from gateway.runtime import runtime_of, session_dependency

PURPOSE_HEADER = "Gateway-Purpose"
_LAST_USED_GRANULARITY = timedelta(minutes=1)


class KeyRefused(AuthenticationError):
    """A known API key that may not be used (revoked, expired, principal disabled): the
    refusal is logged under the key's principal."""

    def __init__(self, detail: str, *, code: str, caller: Caller) -> None:
        super().__init__(detail, code=code)
        self.caller = caller


SessionDep = Annotated[Session, Depends(session_dependency, scope="function")]


def key_cache(app: FastAPI) -> ApiKeyCache:
    """The app's API-key cache, built with its runtime."""
    return runtime_of(app).service(ApiKeyCache)


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("send an API key as 'Authorization: Bearer <key>'")
    token = token.strip()
    if not looks_like_api_key(token):
        raise AuthenticationError("the API key is not valid", code="invalid_api_key")
    return token


def _used_long_ago(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at > _LAST_USED_GRANULARITY


def _expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


def load_key(session: Session, key_hash: bytes, now: datetime) -> CachedKey:
    """The database check: unknown, revoked, expired keys and disabled principals are refused;
    `last_used_at` is written at most once a minute (in the request's transaction)."""
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
    if key is None:
        raise AuthenticationError("the API key is not valid", code="invalid_api_key")
    principal = key.principal
    caller = Caller(principal_id=principal.id, tenant_id=principal.tenant_id, kind=principal.kind,
                    subject=principal.subject, groups=tuple(principal.groups or ()),
                    api_key_prefix=key.prefix)
    if key.revoked_at is not None:
        raise KeyRefused("the API key has been revoked", code="api_key_revoked", caller=caller)
    expires_at = as_utc(key.expires_at) if key.expires_at is not None else None
    if _expired(expires_at, now):
        raise KeyRefused("the API key has expired", code="api_key_expired", caller=caller)
    if principal.disabled_at is not None:
        raise KeyRefused("the principal is disabled", code="principal_disabled", caller=caller)
    last_used = as_utc(key.last_used_at) if key.last_used_at is not None else None
    if _used_long_ago(last_used, now):
        key.last_used_at = last_used = now
    return CachedKey(caller=caller, key_id=key.id, expires_at=expires_at,
                     last_used_at=last_used, loaded=time.monotonic())


def _touch(session: Session, key_id: uuid.UUID, now: datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))


async def authenticate(request: Request, session: SessionDep) -> Caller:
    """The caller behind the request's API key; a refusal (401) is logged as a deny."""
    try:
        return await _authenticate(request, session)
    except AuthenticationError as exc:
        await run_in_threadpool(_log_refusal, request, session, exc, _refused_actor(request, exc))
        raise


def _log_refusal(request: Request, session: Session, exc: GatewayError, actor: Actor) -> None:
    """The request is failing: its transaction (a `last_used_at` write, perhaps) ends here,
    before the refusal's own (on SQLite an open write would block it)."""
    session.rollback()
    log_refusal(request, exc, enforcer=runtime_of(request).enforcer, actor=actor)


def _refused_actor(request: Request, exc: AuthenticationError) -> Actor:
    if isinstance(exc, KeyRefused):
        return exc.caller.actor()
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    if looks_like_api_key(token):  # the non-secret prefix only, as for every entry
        return replace(ANONYMOUS, connection_id=f"api_key:{display_prefix(token)}")
    return ANONYMOUS


async def _authenticate(request: Request, session: SessionDep) -> Caller:
    token = _bearer_token(request)
    pepper: bytes = runtime_of(request).api_key_pepper
    key_hash = hash_api_key(pepper, token)
    cache = key_cache(request.app)
    now = utcnow()
    entry = cache.get(key_hash)
    if entry is None:
        entry = await run_in_threadpool(load_key, session, key_hash, now)
        cache.put(key_hash, entry)
    else:
        if _expired(entry.expires_at, now):
            cache.forget(key_hash)
            raise KeyRefused("the API key has expired", code="api_key_expired",
                             caller=entry.caller)
        if _used_long_ago(entry.last_used_at, now):
            entry.last_used_at = now  # first: concurrent requests do not all write it
            await run_in_threadpool(_touch, session, entry.key_id, now)
    request.state.caller = entry.caller
    return entry.caller


def declared_purpose(request: Request) -> str:
    """The one purpose the request states. Repeated headers or a comma-joined list are
    ambiguous (which one would the policy decide?): refused without echoing them."""
    values = request.headers.getlist(PURPOSE_HEADER)
    if len(values) > 1 or any("," in value for value in values):
        raise BadRequest(f"state exactly one purpose in one {PURPOSE_HEADER} header",
                         code="ambiguous_purpose")
    purpose = values[0].strip() if values else ""
    if not purpose:
        raise BadRequest(f"state the purpose of this request in the {PURPOSE_HEADER} header",
                         code="purpose_required")
    if purpose not in DECLARED_PURPOSES:
        raise BadRequest("the purpose is not one of the registry's; see declared_purposes",
                         code="purpose_unknown",
                         extra={"declared_purposes": sorted(DECLARED_PURPOSES)})
    return purpose


async def stated_purpose(request: Request, session: SessionDep) -> str:
    """`declared_purpose`; a refusal of an authenticated caller is logged as a deny."""
    try:
        purpose = declared_purpose(request)
    except GatewayError as exc:
        caller: Caller | None = getattr(request.state, "caller", None)
        if caller is not None:
            await run_in_threadpool(_log_refusal, request, session, exc, caller.actor())
        raise
    request.state.purpose = purpose
    return purpose


CallerDep = Annotated[Caller, Depends(authenticate)]
PurposeDep = Annotated[str, Depends(stated_purpose)]
