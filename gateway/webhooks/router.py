"""The webhook endpoints API for the CRM service: register endpoints (the secret is shown once),
list, change, delete, rotate the secret, look at recent deliveries and redeliver. Every route is
guarded (`webhook.manage` / `webhook.read`); another tenant's ids are 404."""

from __future__ import annotations

import uuid
from typing import Annotated

from annotated_types import Ge, Le
from fastapi import Query, Request, Response
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller, SessionDep
from gateway.crypto import CryptoService
from gateway.guard.routing import AccessDep, GuardedRouter, tenant_resource
from gateway.kit.strict import DIGITS
from gateway.outbox.models import WebhookEvent
from gateway.policy.enforcement import Resource
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of
from gateway.settings import Settings
from gateway.webhooks import service
from gateway.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from gateway.webhooks.schemas import (
    AttemptOut,
    DeliveryList,
    DeliveryOut,
    EndpointCreate,
    EndpointList,
    EndpointOut,
    EndpointUpdate,
    EndpointWithSecret,
)

router = GuardedRouter(prefix="/v1/webhooks", tags=["webhooks"])
RESOURCE_TYPE = "webhook_endpoint"


def endpoint_resource(session: Session, caller: Caller, request: Request) -> Resource:
    """One endpoint of the caller's tenant (404 otherwise, before the policy is asked)."""
    endpoint = service.get(session, caller.tenant_id, str(request.path_params["endpoint_id"]))
    request.state.endpoint = endpoint
    return Resource(type=RESOURCE_TYPE, tenant=str(endpoint.tenant_id), ids=(str(endpoint.id),))


def delivery_resource(session: Session, caller: Caller, request: Request) -> Resource:
    """One delivery of one endpoint of the caller's tenant, checked before the decision."""
    found = endpoint_resource(session, caller, request)
    delivery_id = str(request.path_params["delivery_id"])
    request.state.delivery = service.get_delivery(session, request.state.endpoint, delivery_id)
    return Resource(type=found.type, tenant=found.tenant, ids=(*found.ids, delivery_id))


def _crypto(request: Request) -> CryptoService:
    crypto: CryptoService = runtime_of(request).crypto
    return crypto


def _settings(request: Request) -> Settings:
    settings: Settings = runtime_of(request).settings
    return settings


def _out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(id=endpoint.id, url=endpoint.url, description=endpoint.description,
                       event_types=list(endpoint.event_types), active=endpoint.active,
                       secret_version=endpoint.secret_version, created_at=endpoint.created_at,
                       updated_at=endpoint.updated_at)


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> EndpointWithSecret:
    return EndpointWithSecret(**_out(endpoint).model_dump(), secret=secret)


def _delivery_out(delivery: WebhookDelivery, event: WebhookEvent) -> DeliveryOut:
    pending = delivery.status == DeliveryStatus.pending.value
    return DeliveryOut(
        id=delivery.id, endpoint_id=delivery.endpoint_id, event_id=event.id,
        event_type=event.type, status=delivery.status, attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if pending else None,
        last_attempt_at=delivery.last_attempt_at, last_status_code=delivery.last_status_code,
        last_error=delivery.last_error, delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
        attempt_log=[AttemptOut(**entry) for entry in delivery.attempt_log],
        payload=dict(event.payload))


def create_endpoint(body: EndpointCreate, request: Request, session: SessionDep,
                    access: AccessDep) -> EndpointWithSecret:
    endpoint, secret = service.create(
        session, _crypto(request), _settings(request), uuid.UUID(access.request.actor.tenant),
        body, created_by=uuid.UUID(access.request.actor.id))
    return _with_secret(endpoint, secret)


def list_endpoints(session: SessionDep, access: AccessDep) -> EndpointList:
    tenant_id = uuid.UUID(access.request.actor.tenant)
    return EndpointList(items=[_out(e) for e in service.listing(session, tenant_id)])


def get_endpoint(endpoint_id: str, request: Request, access: AccessDep) -> EndpointOut:
    return _out(request.state.endpoint)


def update_endpoint(endpoint_id: str, body: EndpointUpdate, request: Request,
                    session: SessionDep, access: AccessDep) -> EndpointOut:
    return _out(service.update(session, _settings(request), request.state.endpoint, body))


def delete_endpoint(endpoint_id: str, request: Request, session: SessionDep,
                    access: AccessDep) -> Response:
    service.remove(session, request.state.endpoint)
    return Response(status_code=204)


def rotate_secret(endpoint_id: str, request: Request, session: SessionDep,
                  access: AccessDep) -> EndpointWithSecret:
    endpoint: WebhookEndpoint = request.state.endpoint
    secret = service.rotate(session, _crypto(request), endpoint)
    return _with_secret(endpoint, secret)


def list_deliveries(endpoint_id: str, request: Request, session: SessionDep, access: AccessDep,
                    status: DeliveryStatus | None = None,
                    limit: Annotated[int, Ge(1), Le(200), DIGITS, Query()] = 50) -> DeliveryList:
    found = service.deliveries(session, request.state.endpoint, status=status, limit=limit)
    return DeliveryList(items=[_delivery_out(d, e) for d, e in found])


def redeliver(endpoint_id: str, delivery_id: str, request: Request, session: SessionDep,
              access: AccessDep) -> DeliveryOut:
    delivery, event = request.state.delivery
    return _delivery_out(service.redeliver(session, delivery), event)


router.add("POST", "", create_endpoint, action=Action.webhook_manage,
           resource=tenant_resource(RESOURCE_TYPE), status_code=201,
           response_model=EndpointWithSecret,
           summary="Register a webhook endpoint (the signing secret is returned only now)")
router.add("GET", "", list_endpoints, action=Action.webhook_read,
           resource=tenant_resource(RESOURCE_TYPE), response_model=EndpointList,
           summary="The tenant's webhook endpoints")
router.add("GET", "/{endpoint_id}", get_endpoint, action=Action.webhook_read,
           resource=endpoint_resource, response_model=EndpointOut,
           summary="One webhook endpoint")
router.add("PATCH", "/{endpoint_id}", update_endpoint, action=Action.webhook_manage,
           resource=endpoint_resource, response_model=EndpointOut,
           summary="Change an endpoint's URL, event types, description or active flag")
router.add("DELETE", "/{endpoint_id}", delete_endpoint, action=Action.webhook_manage,
           resource=endpoint_resource, status_code=204,
           summary="Delete an endpoint and its deliveries")
router.add("POST", "/{endpoint_id}/rotate-secret", rotate_secret, action=Action.webhook_manage,
           resource=endpoint_resource, response_model=EndpointWithSecret,
           summary="Replace the signing secret (returned only now; retries use the new one)")
router.add("GET", "/{endpoint_id}/deliveries", list_deliveries, action=Action.webhook_read,
           resource=endpoint_resource, response_model=DeliveryList,
           summary="Recent deliveries to this endpoint, newest first")
router.add("POST", "/{endpoint_id}/deliveries/{delivery_id}/redeliver", redeliver,
           action=Action.webhook_manage, resource=delivery_resource,
           response_model=DeliveryOut, summary="Send a delivery again from its first attempt")
