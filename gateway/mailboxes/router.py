"""The mailbox routes of the API (v1): list and get mailboxes, restrict processing and lift
the restriction. Every route names its policy action; see gateway.guard.routing."""

from __future__ import annotations

import uuid

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.accounts.deps import SessionDep
from gateway.crypto import CryptoService
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.mailboxes import restriction
from gateway.mailboxes.address import mailbox_email
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import mailbox_resource, own_mailboxes
from gateway.mailboxes.schemas import MailboxList, MailboxOut
from gateway.mailboxes.scopes import Feature, features_granted
from gateway.policy.enforcement import Access
from gateway.policy.vocabulary import Action, ActorKind
from gateway.runtime import runtime_of

router = GuardedRouter(prefix="/v1", tags=["mailboxes"])


def mailbox_out(session: Session, crypto: CryptoService, mailbox: Mailbox,
                access: Access) -> MailboxOut:
    """The mailbox as the caller may see it: its state, what its scopes enable, and its Google
    address unless the decision redacts what a person wrote (a human without a grant)."""
    enabled = features_granted(mailbox.granted_scopes or ())
    out = MailboxOut(
        id=mailbox.id, owner_principal_id=mailbox.owner_principal_id, state=mailbox.state,
        granted_scopes=list(mailbox.granted_scopes or ()), features=enabled,
        missing_features=[f for f in Feature if f not in enabled],
        created_at=mailbox.created_at, state_reason=mailbox.state_reason,
        connected_at=mailbox.connected_at, reconnect_url=mailbox.reconnect_url)
    if access.decision.obligations.get("redact"):
        out.redacted = ["email_address"]
    else:
        out.email_address = mailbox_email(session, crypto, mailbox, access)
    return out


def list_mailboxes(request: Request, session: SessionDep, access: AccessDep) -> MailboxList:
    actor = access.request.actor
    query = select(Mailbox).where(Mailbox.tenant_id == uuid.UUID(actor.tenant))
    if actor.kind == ActorKind.end_user:
        query = query.where(Mailbox.owner_principal_id == uuid.UUID(actor.id))
    query = query.order_by(Mailbox.created_at, Mailbox.id)
    crypto: CryptoService = runtime_of(request).crypto
    return MailboxList(items=[mailbox_out(session, crypto, m, access)
                              for m in session.scalars(query)])


def get_mailbox(mailbox_id: str, request: Request, session: SessionDep,
                access: AccessDep) -> MailboxOut:
    return mailbox_out(session, runtime_of(request).crypto, request.state.mailbox, access)


router.add("GET", "/mailboxes", list_mailboxes, action=Action.mailbox_list,
           resource=own_mailboxes, response_model=MailboxList,
           summary="List mailboxes",
           description="An end user sees the mailboxes they own; the CRM service its tenant's.")
router.add("GET", "/mailboxes/{mailbox_id}", get_mailbox, action=Action.mailbox_read,
           resource=mailbox_resource(), response_model=MailboxOut,
           summary="Get a mailbox",
           description="State, granted features and, when the user must act, `reconnect_url`. "
                       "Unlike the mail routes, a colleague's mailbox is a logged 403 "
                       "(`not_mailbox_owner`), not a 404.")


def restrict_mailbox(mailbox_id: str, request: Request, session: SessionDep,
                     access: AccessDep) -> MailboxOut:
    mailbox: Mailbox = request.state.mailbox
    restriction.restrict(session, mailbox)
    return mailbox_out(session, runtime_of(request).crypto, mailbox, access)


def lift_restriction(mailbox_id: str, request: Request, session: SessionDep,
                     access: AccessDep) -> MailboxOut:
    mailbox: Mailbox = request.state.mailbox
    restriction.lift(session, mailbox)
    return mailbox_out(session, runtime_of(request).crypto, mailbox, access)


router.add("PUT", "/mailboxes/{mailbox_id}/restriction", restrict_mailbox,
           action=Action.data_restrict, resource=mailbox_resource(), response_model=MailboxOut,
           summary="Restrict processing of a mailbox",
           description="A user's right (purpose `user_rights`; the owner or the CRM service): "
                       "the mailbox turns `restricted`, and only export, deletion, its status, "
                       "human-access management and lifting the restriction are allowed. "
                       "Idempotent; a disconnected mailbox is a 409 `mailbox_disconnected`.")
router.add("DELETE", "/mailboxes/{mailbox_id}/restriction", lift_restriction,
           action=Action.data_restrict, resource=mailbox_resource(), response_model=MailboxOut,
           summary="Lift the restriction",
           description="Back to `active` (a sync is requested), or to `reauth_required` if "
                       "Google had refused the mailbox's token. Idempotent.")
