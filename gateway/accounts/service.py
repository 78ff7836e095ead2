"""Tenant, principal and API-key management. Only flushes: the caller owns the transaction."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from gateway.accounts.key_cache import forget_everywhere
from gateway.accounts.keys import display_prefix, generate_api_key, hash_api_key
from gateway.accounts.models import ApiKey, Principal, Tenant
from gateway.kit.errors import Conflict, NotFound, ValidationFailed
from gateway.kit.ids import uuid_or_none, uuid_or_not_found
from gateway.kit.timeutil import utcnow
from gateway.policy.vocabulary import API_KEY_KINDS, ActorKind

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: `secret` is shown exactly once and never stored."""

    key: ApiKey
    secret: str


def create_tenant(session: Session, slug: str, name: str | None = None) -> Tenant:
    if not _SLUG.match(slug):
        raise ValidationFailed("tenant slug must be 2-63 lowercase letters, digits or dashes")
    if session.scalar(select(Tenant).where(Tenant.slug == slug)) is not None:
        raise Conflict(f"tenant {slug!r} already exists", code="tenant_exists")
    tenant = Tenant(slug=slug, name=name or slug)
    session.add(tenant)
    session.flush()
    return tenant


def get_tenant(session: Session, slug_or_id: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug_or_id))
    if tenant is None and (tenant_id := uuid_or_none(slug_or_id)) is not None:
        tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {slug_or_id!r}", code="tenant_not_found")
    return tenant


def create_principal(session: Session, tenant: Tenant, kind: str, subject: str,
                     display_name: str = "", groups: list[str] | None = None) -> Principal:
    if kind not in API_KEY_KINDS:
        allowed = ", ".join(sorted(API_KEY_KINDS))
        raise ValidationFailed(f"principal kind must be one of: {allowed}")
    if not subject or len(subject) > 320:
        raise ValidationFailed("principal subject must be 1-320 characters")
    existing = session.scalar(select(Principal).where(
        Principal.tenant_id == tenant.id, Principal.kind == kind, Principal.subject == subject))
    if existing is not None:
        raise Conflict(f"{kind} {subject!r} already exists", code="principal_exists")
    principal = Principal(tenant_id=tenant.id, kind=ActorKind(kind).value, subject=subject,
                          display_name=display_name, groups=list(groups or []))
    session.add(principal)
    session.flush()
    return principal


def list_principals(session: Session, tenant: Tenant) -> list[Principal]:
    return list(session.scalars(
        select(Principal).where(Principal.tenant_id == tenant.id).order_by(Principal.created_at)))


def get_principal(session: Session, tenant: Tenant, principal_id: str) -> Principal:
    principal = session.get(Principal, uuid_or_not_found(
        principal_id, what="principal", code="principal_not_found"))
    if principal is None or principal.tenant_id != tenant.id:
        raise NotFound("no such principal", code="principal_not_found")
    return principal


def tenant_operator(session: Session, tenant_id: uuid.UUID, operator_id: uuid.UUID) -> Principal:
    """An operator of this tenant (a grant or a justification names one), else 404
    `operator_not_found`: another tenant's operator is as unknown as none."""
    operator = session.get(Principal, operator_id)
    if (operator is None or operator.tenant_id != tenant_id
            or operator.kind != ActorKind.operator):
        raise NotFound("no such operator", code="operator_not_found")
    return operator


def disable_principal(session: Session, principal: Principal) -> Principal:
    """The principal's keys and page sessions stop working (idempotent); its keys are evicted
    from this process's caches now and when the change commits, as a revocation is."""
    if principal.disabled_at is None:
        principal.disabled_at = utcnow()
        session.flush()
    hashes = list(session.scalars(select(ApiKey.key_hash).where(
        ApiKey.principal_id == principal.id)))
    _forget_on_commit(session, hashes)
    return principal


def _forget_on_commit(session: Session, hashes: list[bytes]) -> None:
    # Evict now and once more when the change commits: a request that read the row just
    # before the commit could otherwise cache it again (gateway/accounts/key_cache.py).
    def forget(_session: Session | None = None) -> None:
        for key_hash in hashes:
            forget_everywhere(key_hash)

    forget()
    event.listen(session, "after_commit", forget, once=True)


def get_api_key(session: Session, tenant: Tenant, key_id: str) -> ApiKey:
    key = session.get(ApiKey, uuid_or_not_found(key_id, what="API key",
                                                code="api_key_not_found"))
    if key is None or key.tenant_id != tenant.id:
        raise NotFound("no such API key", code="api_key_not_found")
    return key


def create_api_key(session: Session, pepper: bytes, principal: Principal, name: str = "",
                   expires_at: datetime | None = None) -> IssuedKey:
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed("expiry must be in the future")
    secret = generate_api_key()
    key = ApiKey(tenant_id=principal.tenant_id, principal_id=principal.id, name=name,
                 prefix=display_prefix(secret), key_hash=hash_api_key(pepper, secret),
                 expires_at=expires_at)
    session.add(key)
    session.flush()
    return IssuedKey(key=key, secret=secret)


def list_api_keys(session: Session, tenant: Tenant) -> list[ApiKey]:
    return list(session.scalars(
        select(ApiKey).where(ApiKey.tenant_id == tenant.id).order_by(ApiKey.created_at)))


def revoke_api_key(session: Session, tenant: Tenant, key_id_or_prefix: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant.id,
                                              ApiKey.prefix == key_id_or_prefix))
    if key is None and (key_id := uuid_or_none(key_id_or_prefix)) is not None:
        key = session.get(ApiKey, key_id)
    if key is None or key.tenant_id != tenant.id:
        raise NotFound("no such API key", code="api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    _forget_on_commit(session, [key.key_hash])
    return key


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.created_at, Tenant.slug)))
