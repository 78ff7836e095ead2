"""Endpoint signing secrets: generated here, shown once, sealed at rest.

Data keys are per (tenant, mailbox); a webhook endpoint belongs to a tenant, not to a mailbox.
Its secret is sealed under the tenant's *webhook scope*: a pseudo-mailbox id derived from the
tenant id (UUIDv5, so it can never equal a real mailbox id, which are UUIDv4), with its own data
key in the keyring. The binding also names the table, column and endpoint row, so a sealed secret
copied to another endpoint or tenant fails to open. Crypto-shredding a mailbox never touches it.
"""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy.orm import Session

from gateway.crypto import Binding, CryptoService, Sealed
from gateway.webhooks.models import ENDPOINTS_TABLE, WebhookEndpoint

SECRET_PREFIX = "whsec_"  # noqa: S105 - a recognisable prefix, not a secret
_SCOPE_NAMESPACE = uuid.UUID("6f6a3f0e-2d0b-5c55-9a51-7765626b686b")


def tenant_scope(tenant_id: uuid.UUID | str) -> uuid.UUID:
    """The pseudo-mailbox id under which a tenant's webhook secrets are sealed."""
    return uuid.uuid5(_SCOPE_NAMESPACE, f"webhooks/{uuid.UUID(str(tenant_id))}")


def binding(endpoint: WebhookEndpoint) -> Binding:
    return Binding.of(endpoint.tenant_id, tenant_scope(endpoint.tenant_id), ENDPOINTS_TABLE,
                      "secret", endpoint.id)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def seal(session: Session, crypto: CryptoService, endpoint: WebhookEndpoint,
         secret: str) -> Sealed:
    return crypto.seal_text(session, binding(endpoint), secret)


def open_secret(session: Session, crypto: CryptoService, endpoint: WebhookEndpoint) -> str:
    return crypto.open_owned_secret(session, binding(endpoint), endpoint.secret)
