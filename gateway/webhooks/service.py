"""Managing a tenant's webhook endpoints and looking at their deliveries. Everything is scoped by
tenant: an id of another tenant's endpoint or delivery is simply not found."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.crypto import CryptoService
from gateway.kit.errors import Conflict, NotFound
from gateway.kit.ids import uuid_or_none
from gateway.kit.timeutil import utcnow
from gateway.outbox.models import WebhookEvent
from gateway.settings import Settings
from gateway.webhooks import sealing
from gateway.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from gateway.webhooks.schemas import EndpointCreate, EndpointUpdate
from gateway.webhooks.urls import validate_url

MAX_ENDPOINTS_PER_TENANT = 20



def get(session: Session, tenant_id: uuid.UUID, raw_id: str) -> WebhookEndpoint:
    endpoint_id = uuid_or_none(raw_id)
    endpoint = session.get(WebhookEndpoint, endpoint_id) if endpoint_id else None
    if endpoint is None or endpoint.tenant_id != tenant_id:
        raise NotFound("no such webhook endpoint", code="webhook_not_found")
    return endpoint


def listing(session: Session, tenant_id: uuid.UUID) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.tenant_id == tenant_id).order_by(WebhookEndpoint.created_at)))


def create(session: Session, crypto: CryptoService, settings: Settings, tenant_id: uuid.UUID,
           body: EndpointCreate, *, created_by: uuid.UUID | None) -> tuple[WebhookEndpoint, str]:
    url = validate_url(body.url, settings)
    count = session.scalar(select(func.count()).select_from(WebhookEndpoint).where(
        WebhookEndpoint.tenant_id == tenant_id)) or 0
    if count >= MAX_ENDPOINTS_PER_TENANT:
        raise Conflict(f"a tenant has at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints",
                       code="webhook_endpoint_limit")
    now = utcnow()
    endpoint = WebhookEndpoint(id=uuid.uuid4(), tenant_id=tenant_id, url=url,
                               description=body.description,
                               event_types=sorted({t.value for t in body.event_types}),
                               active=body.active, secret_version=1, created_by=created_by,
                               created_at=now, updated_at=now)
    secret = sealing.new_secret()
    endpoint.secret = sealing.seal(session, crypto, endpoint, secret)
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def update(session: Session, settings: Settings, endpoint: WebhookEndpoint,
           body: EndpointUpdate) -> WebhookEndpoint:
    fields = body.model_fields_set
    if "url" in fields and body.url is not None:
        endpoint.url = validate_url(body.url, settings)
    if "event_types" in fields and body.event_types is not None:
        endpoint.event_types = sorted({t.value for t in body.event_types})
    if "description" in fields:
        endpoint.description = body.description
    if "active" in fields and body.active is not None:
        endpoint.active = body.active
    session.flush()
    return endpoint


def remove(session: Session, endpoint: WebhookEndpoint) -> None:
    """Deleting an endpoint deletes its deliveries (pending ones are never sent)."""
    session.delete(endpoint)
    session.flush()


def rotate(session: Session, crypto: CryptoService, endpoint: WebhookEndpoint) -> str:
    """A new secret, effective for every delivery from now on (including retries)."""
    secret = sealing.new_secret()
    endpoint.secret = sealing.seal(session, crypto, endpoint, secret)
    endpoint.secret_version += 1
    session.flush()
    return secret


def deliveries(session: Session, endpoint: WebhookEndpoint, *, status: DeliveryStatus | None,
               limit: int) -> list[tuple[WebhookDelivery, WebhookEvent]]:
    query = (select(WebhookDelivery, WebhookEvent)
             .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
             .where(WebhookDelivery.endpoint_id == endpoint.id))
    if status is not None:
        query = query.where(WebhookDelivery.status == status.value)
    rows = session.execute(query.order_by(WebhookDelivery.created_at.desc(),
                                          WebhookDelivery.id.desc()).limit(limit))
    return [(delivery, event) for delivery, event in rows]


def get_delivery(session: Session, endpoint: WebhookEndpoint,
                 raw_id: str) -> tuple[WebhookDelivery, WebhookEvent]:
    delivery_id = uuid_or_none(raw_id)
    delivery = session.get(WebhookDelivery, delivery_id) if delivery_id else None
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound("no such delivery", code="webhook_delivery_not_found")
    event = session.get(WebhookEvent, delivery.event_id)
    if event is None:
        raise NotFound("no such delivery", code="webhook_delivery_not_found")
    return delivery, event


def redeliver(session: Session, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send again from the first attempt (a dead or delivered delivery, or a pending one now)."""
    delivery.status = DeliveryStatus.pending.value
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.delivered_at = None
    session.flush()
    return delivery
