"""The CRM's mail API (v1). Every route names its policy action; see gateway.kit.routing."""

from __future__ import annotations

import uuid

from fastapi import Request
from sqlalchemy import select

from gateway.accounts.deps import SessionDep
from gateway.kit.routing import AccessDep, GuardedRouter
from gateway.mail.models import Mailbox
from gateway.mail.resolvers import mailbox_resource, own_mailboxes
from gateway.mail.schemas import MailboxList, MailboxOut
from gateway.policy.vocabulary import Action, ActorKind

router = GuardedRouter(prefix="/v1", tags=["mailboxes"])


def list_mailboxes(session: SessionDep, access: AccessDep) -> MailboxList:
    actor = access.request.actor
    query = select(Mailbox).where(Mailbox.tenant_id == uuid.UUID(actor.tenant))
    if actor.kind == ActorKind.end_user:
        query = query.where(Mailbox.owner_principal_id == uuid.UUID(actor.id))
    query = query.order_by(Mailbox.created_at, Mailbox.id)
    return MailboxList(items=[MailboxOut.model_validate(m) for m in session.scalars(query)])


def get_mailbox(mailbox_id: str, request: Request, access: AccessDep) -> MailboxOut:
    return MailboxOut.model_validate(request.state.mailbox)


router.add("GET", "/mailboxes", list_mailboxes, action=Action.mailbox_list,
           resource=own_mailboxes, response_model=MailboxList)
router.add("GET", "/mailboxes/{mailbox_id}", get_mailbox, action=Action.mailbox_read,
           resource=mailbox_resource(), response_model=MailboxOut)
