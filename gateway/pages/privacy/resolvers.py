"""The privacy center's resource resolvers: the API's (`gateway.mail.resolvers.mailbox_resource`,
the audit log's mailbox resource), with the mail routes' `owner_only` hiding — a mailbox of
another user, like one of another tenant, is a 404 `mailbox_not_found`, logged as a refusal — and
a grant or request of another mailbox a 404 like an unknown one, checked before the decision."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller
from gateway.audit_api.router import RESOURCE_TYPE as AUDIT_LOG
from gateway.consent.models import ConsentGrant, ConsentRequest
from gateway.guard.routing import ResourceResolver
from gateway.kit.errors import NotFound
from gateway.kit.ids import uuid_or_none
from gateway.mail.resolvers import load_visible_mailbox, mailbox_resource
from gateway.policy.enforcement import Resolved, Resource
from gateway.policy.resources import mailbox_bound


def own_mailbox(resource_type: str = "mailbox") -> ResourceResolver:
    """The mailbox in the path, the caller's own (`request.state.mailbox`)."""
    return mailbox_resource(resource_type, owner_only=True)


def own_mailbox_log(session: Session, caller: Caller, request: Request) -> Resource:
    """The mailbox's operation log as `GET /v1/mailboxes/{id}/access-log` names it (an
    `audit_log` resource carrying the mailbox's owner), for the owner's own mailbox."""
    mailbox = load_visible_mailbox(session, caller, request.path_params["mailbox_id"])
    request.state.mailbox = mailbox
    return mailbox_bound(mailbox, AUDIT_LOG, ids=(str(mailbox.id),), with_state=False)


def own_row(model: type[ConsentGrant] | type[ConsentRequest], resource_type: str, param: str,
            *, what: str, code: str) -> ResourceResolver:
    """The owner's mailbox and one of its grants or access requests (as the consent API's
    routes resolve them)."""
    mailbox_of = mailbox_resource(resource_type, id_param=param, owner_only=True)

    def resolve(session: Session, caller: Caller, request: Request) -> Resource | Resolved:
        resolved = mailbox_of(session, caller, request)
        row_id = uuid_or_none(str(request.path_params[param]))
        row = session.get(model, row_id) if row_id is not None else None
        if not isinstance(row, ConsentGrant | ConsentRequest) or (
                row.mailbox_id != request.state.mailbox.id):
            raise NotFound(f"no such {what}", code=code)
        return resolved

    return resolve


own_grant = own_row(ConsentGrant, "consent_grant", "grant_id", what="grant",
                    code="grant_not_found")
own_request = own_row(ConsentRequest, "consent_request", "request_id", what="access request",
                      code="request_not_found")
