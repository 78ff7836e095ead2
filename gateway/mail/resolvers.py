"""Resource resolvers for mailbox-scoped routes: load the mailbox named in the path within the
caller's tenant (another tenant's id is a 404, never a 403, so ids are not confirmed) and hand
the policy the facts it needs: owner, state, granted scopes, and for a human operator the one
consent grant that applies."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller
from gateway.consent.service import applicable_grant
from gateway.kit.errors import NotFound
from gateway.kit.ids import uuid_or_not_found
from gateway.kit.routing import ResourceResolver
from gateway.mail.models import Mailbox, Message
from gateway.policy.enforcement import Resolved, Resource
from gateway.policy.vocabulary import ActorKind


def load_mailbox(session: Session, caller: Caller, raw_id: str) -> Mailbox:
    mailbox = session.get(Mailbox, uuid_or_not_found(raw_id, what="mailbox",
                                                     code="mailbox_not_found"))
    if mailbox is None or mailbox.tenant_id != caller.tenant_id:
        raise NotFound("no such mailbox", code="mailbox_not_found")
    return mailbox


def own_mailboxes(session: Session, caller: Caller, request: Request) -> Resource:
    """Listing mailboxes: an end user lists the ones they own, a service its tenant's."""
    owner = str(caller.principal_id) if caller.kind == ActorKind.end_user else None
    return Resource(type="mailbox", tenant=str(caller.tenant_id), owner=owner)


def _resolved(session: Session, caller: Caller, mailbox: Mailbox, resource_type: str,
              ids: tuple[str, ...], thread_id: str | None) -> Resolved:
    resource = Resource(type=resource_type, tenant=str(mailbox.tenant_id),
                        mailbox=str(mailbox.id), owner=str(mailbox.owner_principal_id),
                        ids=ids, thread_id=thread_id, mailbox_state=mailbox.state,
                        scopes=tuple(mailbox.granted_scopes or ()))
    grant = None
    if caller.kind == ActorKind.operator and (ids or thread_id):
        grant = applicable_grant(session, mailbox.id, caller.principal_id, caller.groups,
                                 ids, thread_id)
    return Resolved(resource, grant=grant)


def mailbox_resource(resource_type: str = "mailbox", id_param: str | None = None,
                     thread_param: str | None = None) -> ResourceResolver:
    def resolve(session: Session, caller: Caller, request: Request) -> Resolved:
        mailbox = load_mailbox(session, caller, request.path_params["mailbox_id"])
        request.state.mailbox = mailbox
        ids = (str(request.path_params[id_param]),) if id_param else ()
        thread_id = str(request.path_params[thread_param]) if thread_param else None
        return _resolved(session, caller, mailbox, resource_type, ids, thread_id)

    return resolve


def message_resource(action_kind: str = "message") -> ResourceResolver:
    """A message named by its Gmail id in the path, within a mailbox of the caller's tenant.

    The message's thread id comes from the store, so a grant for the thread covers it."""

    def resolve(session: Session, caller: Caller, request: Request) -> Resolved:
        mailbox = load_mailbox(session, caller, request.path_params["mailbox_id"])
        gmail_id = str(request.path_params["message_id"])
        message = session.scalar(select(Message).where(Message.mailbox_id == mailbox.id,
                                                       Message.gmail_id == gmail_id))
        if message is None:
            raise NotFound("no such message", code="message_not_found")
        request.state.mailbox = mailbox
        request.state.message = message
        return _resolved(session, caller, mailbox, action_kind, (gmail_id,), message.thread_id)

    return resolve
