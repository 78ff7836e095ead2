"""Resource resolvers for mailbox-scoped routes: load the mailbox named in the path within the
caller's tenant (another tenant's id is a 404, never a 403, so ids are not confirmed) and hand
the policy the facts it needs: owner, state, granted scopes, and for a human operator the one
consent grant and the recorded justification that apply. Those two are looked up by the
functions the app's runtime holds (`HumanAccessLookups`: gateway.consent and
gateway.justifications build on the mailbox, so it cannot import them).

The mail read routes also hide, behind the same 404, a mailbox an end user does not own
(`owner_only`): an end user's mailbox list shows only their own, so a colleague's mailbox id is
as unknown to them as another tenant's. Malformed ids (not a UUID, not a Gmail id) are 404 too,
before anything reaches the database."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller
from gateway.guard.routing import ResourceResolver
from gateway.kit.errors import NotFound
from gateway.kit.ids import GMAIL_ID, uuid_or_not_found
from gateway.mailboxes.models import Mailbox
from gateway.policy.enforcement import Resolved, Resource
from gateway.policy.resources import mailbox_bound
from gateway.policy.vocabulary import ActorKind
from gateway.runtime import runtime_of

# (session, mailbox id, operator id, operator groups, message ids, thread id) -> the grant
GrantLookup = Callable[[Session, uuid.UUID, uuid.UUID, Iterable[str], Iterable[str], str | None],
                       Mapping[str, Any] | None]
# (session, caller, request, resource) -> the justification
JustificationLookup = Callable[[Session, Caller, Request, Resource], Mapping[str, Any] | None]


@dataclass(frozen=True)
class HumanAccessLookups:
    """How a resolver finds, as policy input, the consent grant (gateway.consent) and the
    recorded justification (gateway.justifications) that apply to an operator's access. A
    service of the app's runtime (gateway.app.app_services)."""

    grant: GrantLookup
    justification: JustificationLookup


def load_mailbox(session: Session, caller: Caller, raw_id: str) -> Mailbox:
    mailbox = session.get(Mailbox, uuid_or_not_found(raw_id, what="mailbox",
                                                     code="mailbox_not_found"))
    if mailbox is None or mailbox.tenant_id != caller.tenant_id:
        raise NotFound("no such mailbox", code="mailbox_not_found")
    return mailbox


def load_visible_mailbox(session: Session, caller: Caller, raw_id: str) -> Mailbox:
    """`load_mailbox`, and an end user sees only the mailboxes they own."""
    mailbox = load_mailbox(session, caller, raw_id)
    if caller.kind == ActorKind.end_user and mailbox.owner_principal_id != caller.principal_id:
        raise NotFound("no such mailbox", code="mailbox_not_found")
    return mailbox


def gmail_id_or_not_found(raw: str, *, what: str) -> str:
    if not GMAIL_ID.fullmatch(raw):
        raise NotFound(f"no such {what}", code=f"{what}_not_found")
    return raw


def own_mailboxes(session: Session, caller: Caller, request: Request) -> Resource:
    """Listing mailboxes: an end user lists the ones they own, a service its tenant's."""
    owner = str(caller.principal_id) if caller.kind == ActorKind.end_user else None
    return Resource(type="mailbox", tenant=str(caller.tenant_id), owner=owner)


def resolved(session: Session, caller: Caller, mailbox: Mailbox, resource_type: str,
             ids: tuple[str, ...], thread_id: str | None, request: Request) -> Resolved:
    """The resource bound to `mailbox`, with the grant and the justification that apply."""
    lookups = runtime_of(request).service(HumanAccessLookups)
    resource = mailbox_bound(mailbox, resource_type, ids=ids, thread_id=thread_id)
    grant = None
    if caller.kind == ActorKind.operator and (ids or thread_id):
        grant = lookups.grant(session, mailbox.id, caller.principal_id, caller.groups,
                              ids, thread_id)
    # An operator's security/legal access: the recorded justification (gateway/justifications).
    justification = lookups.justification(session, caller, request, resource)
    return Resolved(resource, grant=grant, justification=justification)


def mailbox_resource(resource_type: str = "mailbox", id_param: str | None = None,
                     thread_param: str | None = None, *,
                     owner_only: bool = False) -> ResourceResolver:
    def resolve(session: Session, caller: Caller, request: Request) -> Resolved:
        load = load_visible_mailbox if owner_only else load_mailbox
        mailbox = load(session, caller, request.path_params["mailbox_id"])
        request.state.mailbox = mailbox
        ids = (str(request.path_params[id_param]),) if id_param else ()
        thread_id = str(request.path_params[thread_param]) if thread_param else None
        return resolved(session, caller, mailbox, resource_type, ids, thread_id, request)

    return resolve
