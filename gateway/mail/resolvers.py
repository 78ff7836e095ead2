"""Resource resolvers for mailbox-scoped routes: load the mailbox named in the path within the
caller's tenant (another tenant's id is a 404, never a 403, so ids are not confirmed) and hand
the policy the facts it needs: owner, state, granted scopes."""

from __future__ import annotations

import uuid

from fastapi import Request
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller
from gateway.kit.errors import NotFound
from gateway.kit.routing import ResourceResolver
from gateway.mail.models import Mailbox
from gateway.policy.enforcement import Resource


def load_mailbox(session: Session, caller: Caller, raw_id: str) -> Mailbox:
    try:
        mailbox_id = uuid.UUID(raw_id)
    except ValueError:
        raise NotFound("no such mailbox", code="mailbox_not_found") from None
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.tenant_id != caller.tenant_id:
        raise NotFound("no such mailbox", code="mailbox_not_found")
    return mailbox


def mailbox_resource(resource_type: str = "mailbox", id_param: str | None = None
                     ) -> ResourceResolver:
    def resolve(session: Session, caller: Caller, request: Request) -> Resource:
        mailbox = load_mailbox(session, caller, request.path_params["mailbox_id"])
        request.state.mailbox = mailbox
        ids = (str(request.path_params[id_param]),) if id_param else (str(mailbox.id),)
        return Resource(type=resource_type, tenant=str(mailbox.tenant_id),
                        mailbox=str(mailbox.id), owner=str(mailbox.owner_principal_id),
                        ids=ids, mailbox_state=mailbox.state,
                        scopes=tuple(mailbox.granted_scopes or ()))

    return resolve
