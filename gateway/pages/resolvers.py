"""Resolvers the pages add to the API's: a mailbox named in the query string (a page reached
from a form or a CRM link) instead of the path."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller
from gateway.guard.routing import ResourceResolver
from gateway.mailboxes.resolvers import load_mailbox
from gateway.policy.enforcement import Resource
from gateway.policy.resources import mailbox_bound


def mailbox_in_query(resource_type: str) -> ResourceResolver:
    """The mailbox named by `?mailbox_id=`, loaded like the API's path parameter: another
    tenant's, an unknown or a malformed id is `mailbox_not_found` (answered before the decision
    and logged as a refusal)."""

    def resolve(session: Session, caller: Caller, request: Request) -> Resource:
        mailbox = load_mailbox(session, caller, request.query_params.get("mailbox_id") or "")
        request.state.mailbox = mailbox
        return mailbox_bound(mailbox, resource_type)

    return resolve
