"""The privacy center's resource resolvers: the API's
(`gateway.mailboxes.resolvers.mailbox_resource`, the audit log's mailbox resource), with the mail
routes' `owner_only` hiding — a mailbox of another user, like one of another tenant, is a 404
`mailbox_not_found`, logged as a refusal — and a grant or request of another mailbox a 404 like
an unknown one, checked before the decision (`gateway.consent.resolvers`, the consent API's)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller
from gateway.audit_api.router import RESOURCE_TYPE as AUDIT_LOG
from gateway.guard.routing import ResourceResolver
from gateway.mailboxes.resolvers import load_visible_mailbox, mailbox_resource
from gateway.policy.enforcement import Resource
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
