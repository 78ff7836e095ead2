"""FastAPI dependencies: who is calling (API key → principal) and for what purpose."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.accounts.keys import hash_api_key, looks_like_api_key
from gateway.accounts.models import ApiKey
from gateway.kit.db import session_dependency
from gateway.kit.errors import AuthenticationError, BadRequest
from gateway.kit.timeutil import as_utc
from gateway.policy.vocabulary import DECLARED_PURPOSES

PURPOSE_HEADER = "Gateway-Purpose"
_LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class Caller:
    """The authenticated principal behind a request."""

    principal_id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    subject: str
    groups: tuple[str, ...]
    api_key_prefix: str


SessionDep = Annotated[Session, Depends(session_dependency, scope="function")]


def authenticate(request: Request, session: SessionDep) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("send an API key as 'Authorization: Bearer <key>'")
    token = token.strip()
    if not looks_like_api_key(token):
        raise AuthenticationError("the API key is not valid", code="invalid_api_key")
    pepper: bytes = request.app.state.api_key_pepper
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(pepper, token)))
    now = datetime.now(UTC)
    if key is None:
        raise AuthenticationError("the API key is not valid", code="invalid_api_key")
    if key.revoked_at is not None:
        raise AuthenticationError("the API key has been revoked", code="api_key_revoked")
    if key.expires_at is not None and as_utc(key.expires_at) <= now:
        raise AuthenticationError("the API key has expired", code="api_key_expired")
    principal = key.principal
    if principal.disabled_at is not None:
        raise AuthenticationError("the principal is disabled", code="principal_disabled")
    if key.last_used_at is None or now - as_utc(key.last_used_at) > _LAST_USED_GRANULARITY:
        key.last_used_at = now
    caller = Caller(principal_id=principal.id, tenant_id=principal.tenant_id, kind=principal.kind,
                    subject=principal.subject, groups=tuple(principal.groups or ()),
                    api_key_prefix=key.prefix)
    request.state.caller = caller
    return caller


def stated_purpose(request: Request) -> str:
    purpose = request.headers.get(PURPOSE_HEADER, "").strip()
    if not purpose:
        raise BadRequest(f"state the purpose of this request in the {PURPOSE_HEADER} header",
                         code="purpose_required")
    if purpose not in DECLARED_PURPOSES:
        raise BadRequest(f"unknown purpose {purpose[:64]!r}; see the purpose registry",
                         code="purpose_unknown",
                         extra={"declared_purposes": sorted(DECLARED_PURPOSES)})
    request.state.purpose = purpose
    return purpose


CallerDep = Annotated[Caller, Depends(authenticate)]
PurposeDep = Annotated[str, Depends(stated_purpose)]
