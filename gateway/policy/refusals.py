"""Refusals decided before the policy is asked, in the operation log.

A request to a guarded route that is refused on the way to the decision leaves a `deny` entry,
exactly as a policy denial does: no or a bad API key (401), a missing, unknown or ambiguous
purpose (400), an id the caller cannot see (404: another tenant's, another owner's, or none at
all). The entry names the route's action, the caller as far as known (`anonymous` before a key
was recognised), the terminal fields, the reason (`REASONS`), and the ids as the caller sent
them; its `policy_revision` is `not_evaluated`.

Ids: a 404 entry names the path's ids as sent, and a mailbox only when the caller can see it
(the answer itself says so: another code than `mailbox_not_found`), so an entry about another
tenant's id and one about an id that exists nowhere look the same.

The entry is committed on its own through the group commit (`OperationLog.append_committed`),
like every denial: a flood of refused requests shares commits with the rest of the traffic
(bench/refusal_log_bench.py). If it cannot be written the answer is 503
`operation_log_unavailable`, as for any unloggable decision.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import Request

from gateway.audit.writer import LogRecord, OperationLogUnavailable
from gateway.kit.errors import GatewayError, Unavailable
from gateway.kit.ids import uuid_or_none
from gateway.policy.enforcement import Actor, Enforcer, operation_name
from gateway.policy.terminal import terminal_of
from gateway.policy.vocabulary import DECLARED_PURPOSES

POLICY_ACTION_KEY = "x-policy-action"
NOT_EVALUATED = "not_evaluated"
ANONYMOUS = Actor(kind="anonymous", id="anonymous", tenant="", connection_id="none")
UNSTATED_PURPOSE = "none"
PURPOSE_HEADER = "gateway-purpose"

# Problem code -> the reason the log entry gives. A 404 of any kind is `not_found`.
REASONS = {
    "authentication_required": "missing_api_key",
    "invalid_api_key": "invalid_api_key",
    "api_key_revoked": "revoked_api_key",
    "api_key_expired": "expired_api_key",
    "principal_disabled": "principal_disabled",
    "purpose_required": "purpose_required",
    "purpose_unknown": "purpose_unknown",
    "ambiguous_purpose": "ambiguous_purpose",
}


def reason_for(error: GatewayError) -> str:
    return "not_found" if error.status == 404 else REASONS.get(error.code, error.code)


def route_action(request: Request) -> str | None:
    """The policy action of the guarded route this request matched (None for public routes)."""
    extra: Mapping[str, Any] = getattr(request.scope.get("route"), "openapi_extra", None) or {}
    action = extra.get(POLICY_ACTION_KEY)
    return action if isinstance(action, str) else None


def logged_purpose(request: Request) -> str:
    """The purpose as the log can state it: the one declared purpose sent, else `none`."""
    values = request.headers.getlist(PURPOSE_HEADER)
    if len(values) == 1 and values[0].strip() in DECLARED_PURPOSES:
        return values[0].strip()
    return UNSTATED_PURPOSE


def _probed(request: Request, error: GatewayError) -> dict[str, Any]:
    """Mailbox and ids of a 404 entry (see the module docstring)."""
    params = {k: str(v) for k, v in request.path_params.items()}
    mailbox = None
    if "mailbox_id" in params and error.code != "mailbox_not_found":
        mailbox = uuid_or_none(params["mailbox_id"])
        if mailbox is not None:
            params.pop("mailbox_id")
    kind = error.code.removesuffix("_not_found") if error.code.endswith("_not_found") else None
    return {"mailbox_id": mailbox, "resource_ids": tuple(params.values()),
            "resource_type": kind}


def log_refusal(request: Request, error: GatewayError, *, enforcer: Enforcer,
                actor: Actor | None, purpose: str | None = None,
                action: str | None = None) -> None:
    """Write the deny entry for `error` through the app's `enforcer` (sync: call it from the
    thread pool). Nothing is written for a route without a policy action."""
    action = action or route_action(request)
    if action is None:
        return
    who = actor or ANONYMOUS
    term = terminal_of(request)
    probed = _probed(request, error) if error.status == 404 else {}
    record = LogRecord(
        request_id=term.request_id, actor_kind=who.kind, actor_id=who.id,
        connection_id=who.connection_id or "none", protocol=term.protocol,
        operation=operation_name(action), action=action,
        purpose=purpose or logged_purpose(request), decision="deny",
        reasons=(reason_for(error),), policy_revision=NOT_EVALUATED,
        tenant_id=uuid_or_none(who.tenant), mailbox_id=probed.get("mailbox_id"),
        client_ip=term.client_ip, user_agent=term.user_agent, device_id=term.device_id,
        resource_type=probed.get("resource_type"),
        resource_ids=probed.get("resource_ids", ()),
        detail={"status": error.status})
    try:
        enforcer.oplog.append_committed(enforcer.database, record)
    except OperationLogUnavailable:
        raise Unavailable("the operation log is unavailable; nothing was served",
                          code="operation_log_unavailable") from None


def caller_actor(principal_id: uuid.UUID, tenant_id: uuid.UUID, kind: str,
                 groups: tuple[str, ...], api_key_prefix: str, *,
                 credential: str = "api_key") -> Actor:
    """The log's actor for an identified caller (as the enforcement point names it): the
    connection is `api_key:<prefix>` or, for a page session, `session:<session id>`."""
    return Actor(kind=kind, id=str(principal_id), tenant=str(tenant_id), groups=groups,
                 connection_id=f"{credential}:{api_key_prefix}")
