"""The provisioning API: a tenant admin creates, lists and disables its tenant's principals and
issues, lists and revokes their API keys (the secret shown once, stored as a keyed hash), all
through gateway/accounts/service.py as the command line does. Every route is guarded
(`principal.*`, `api_key.*`, purpose `administration`); another tenant's ids are 404.
docs/provisioning.md."""

from __future__ import annotations

from fastapi import Request, Response
from sqlalchemy.orm import Session

from gateway.accounts import service
from gateway.accounts.deps import Caller, SessionDep
from gateway.accounts.models import ApiKey, Principal, Tenant
from gateway.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyIssued,
    ApiKeyList,
    ApiKeyOut,
    PrincipalCreate,
    PrincipalKind,
    PrincipalList,
    PrincipalOut,
)
from gateway.guard.routing import AccessDep, GuardedRouter, tenant_resource
from gateway.kit.errors import Conflict, NotFound
from gateway.kit.ids import uuid_or_not_found
from gateway.policy.enforcement import Resource
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of

router = GuardedRouter(tags=["provisioning"])


def _tenant(session: Session, caller_tenant: str) -> Tenant:
    tenant = session.get(Tenant, uuid_or_not_found(
        caller_tenant, what="tenant", code="tenant_not_found"))
    if tenant is None:
        raise NotFound("no such tenant", code="tenant_not_found")
    return tenant


def principal_resource(session: Session, caller: Caller, request: Request) -> Resource:
    tenant = _tenant(session, str(caller.tenant_id))
    principal = service.get_principal(session, tenant, str(request.path_params["principal_id"]))
    request.state.principal = principal
    return Resource(type="principal", tenant=str(principal.tenant_id), ids=(str(principal.id),))


def key_resource(session: Session, caller: Caller, request: Request) -> Resource:
    tenant = _tenant(session, str(caller.tenant_id))
    key = service.get_api_key(session, tenant, str(request.path_params["key_id"]))
    request.state.api_key = key
    return Resource(type="api_key", tenant=str(key.tenant_id), ids=(str(key.id),))


def principal_out(principal: Principal) -> PrincipalOut:
    return PrincipalOut(id=principal.id, kind=principal.kind, subject=principal.subject,
                        display_name=principal.display_name, groups=list(principal.groups or ()),
                        created_at=principal.created_at, disabled_at=principal.disabled_at)


def key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(id=key.id, principal_id=key.principal_id, name=key.name, prefix=key.prefix,
                     created_at=key.created_at, expires_at=key.expires_at,
                     revoked_at=key.revoked_at, last_used_at=key.last_used_at)


def create_principal(body: PrincipalCreate, session: SessionDep,
                     access: AccessDep) -> PrincipalOut:
    tenant = _tenant(session, access.request.actor.tenant)
    return principal_out(service.create_principal(
        session, tenant, body.kind.value, body.subject, body.display_name, list(body.groups)))


def list_principals(session: SessionDep, access: AccessDep,
                    kind: PrincipalKind | None = None) -> PrincipalList:
    tenant = _tenant(session, access.request.actor.tenant)
    found = service.list_principals(session, tenant)
    return PrincipalList(items=[principal_out(p) for p in found
                                if kind is None or p.kind == kind.value])


def get_principal(principal_id: str, request: Request, access: AccessDep) -> PrincipalOut:
    return principal_out(request.state.principal)


def disable_principal(principal_id: str, request: Request, session: SessionDep,
                      access: AccessDep) -> PrincipalOut:
    return principal_out(service.disable_principal(session, request.state.principal))


def issue_key(principal_id: str, body: ApiKeyCreate, request: Request, session: SessionDep,
              access: AccessDep) -> ApiKeyIssued:
    principal: Principal = request.state.principal
    if principal.disabled_at is not None:
        raise Conflict("the principal is disabled", code="principal_disabled")
    issued = service.create_api_key(session, runtime_of(request).api_key_pepper, principal,
                                    body.name, body.expires_at)
    return ApiKeyIssued(**key_out(issued.key).model_dump(), key=issued.secret)


def list_keys(session: SessionDep, access: AccessDep) -> ApiKeyList:
    tenant = _tenant(session, access.request.actor.tenant)
    return ApiKeyList(items=[key_out(k) for k in service.list_api_keys(session, tenant)])


def revoke_key(key_id: str, request: Request, session: SessionDep,
               access: AccessDep) -> Response:
    key: ApiKey = request.state.api_key
    service.revoke_api_key(session, _tenant(session, access.request.actor.tenant), str(key.id))
    return Response(status_code=204)


router.add("POST", "/v1/principals", create_principal, action=Action.principal_manage,
           resource=tenant_resource("principal"), status_code=201, response_model=PrincipalOut,
           summary="Create a principal (an end user, operator, reviewer, service or admin)")
router.add("GET", "/v1/principals", list_principals, action=Action.principal_read,
           resource=tenant_resource("principal"), response_model=PrincipalList,
           summary="The tenant's principals, oldest first")
router.add("GET", "/v1/principals/{principal_id}", get_principal,
           action=Action.principal_read, resource=principal_resource,
           response_model=PrincipalOut, summary="One principal")
router.add("POST", "/v1/principals/{principal_id}/disable", disable_principal,
           action=Action.principal_manage, resource=principal_resource,
           response_model=PrincipalOut,
           summary="Disable a principal: its API keys and page sessions stop working")
router.add("POST", "/v1/principals/{principal_id}/api-keys", issue_key,
           action=Action.api_key_manage, resource=principal_resource, status_code=201,
           response_model=ApiKeyIssued,
           summary="Issue an API key for a principal (the key is returned only now)")
router.add("GET", "/v1/api-keys", list_keys, action=Action.api_key_read,
           resource=tenant_resource("api_key"), response_model=ApiKeyList,
           summary="The tenant's API keys (prefixes only, never the secret)")
router.add("DELETE", "/v1/api-keys/{key_id}", revoke_key, action=Action.api_key_manage,
           resource=key_resource, status_code=204, response_class=Response,
           summary="Revoke an API key at once")
