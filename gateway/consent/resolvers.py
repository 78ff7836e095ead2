"""Resource resolvers of the consent routes (the API's and the privacy center's): the mailbox in
the path, the caller's own for an end user (a colleague's mailbox is a 404 `mailbox_not_found`
like another tenant's, as on the mail routes, logged as a refusal), and one of its grants or
access requests, checked before the decision: another mailbox's id is a 404 like an unknown
one."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller
from gateway.consent.models import ConsentGrant, ConsentRequest
from gateway.guard.routing import ResourceResolver
from gateway.kit.errors import NotFound
from gateway.kit.ids import uuid_or_none
from gateway.mailboxes.resolvers import mailbox_resource
from gateway.policy.enforcement import Resolved, Resource


def own_row(model: type[ConsentGrant] | type[ConsentRequest], resource_type: str, param: str,
            *, what: str, code: str) -> ResourceResolver:
    """The mailbox in the path (`mailbox_resource(owner_only=True)`) and one of its grants or
    access requests."""
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
