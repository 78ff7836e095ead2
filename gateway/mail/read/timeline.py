"""Contact timeline: every stored message of a mailbox exchanged with one address, newest
first, keyset-paginated. The CRM's core need ("all mail with this contact").

Found through the keyed blind index (`message_addresses`): the address is normalised and
HMAC'd with the tenant's key (`CryptoService.blind_index_email`), and the lookup touches no
plaintext and decrypts nothing but the page served. Each item says where the address appears
(`roles`: from, to, cc, bcc — clear columns of the index).

POST with a JSON body, not the address in the path or query: URLs land in the gateway's own
request log (`path`), in proxies and in browser history, and an address is personal data.
Policy action `mail.contact_timeline` (the owner and the CRM service, for `user_facing` or
`contact_linking`; never operators)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select

from gateway.accounts.deps import SessionDep
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.mail.models import Message, MessageAddress
from gateway.mail.read.pagination import decode_cursor, encode_cursor
from gateway.mail.read.rendering import render
from gateway.mail.read.repository import address_index, message_filters, newest_first_after
from gateway.mail.read.schemas import TimelinePage, TimelineRequest
from gateway.mail.read.views import View
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import mailbox_resource
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of

_CURSOR_KIND = "timeline"
_ROLE_ORDER = {"from": 0, "to": 1, "cc": 2, "bcc": 3}


def contact_timeline(mailbox_id: str, body: TimelineRequest, request: Request,
                     session: SessionDep, access: AccessDep) -> dict[str, Any]:
    mailbox: Mailbox = request.state.mailbox
    store: MessageStore = runtime_of(request).service(MessageStore)
    index = address_index(store.crypto, mailbox, body.address)
    matches = select(MessageAddress.message_id).where(
        MessageAddress.mailbox_id == mailbox.id, MessageAddress.address_index == index)
    query = message_filters(select(Message).where(Message.mailbox_id == mailbox.id,
                                                  Message.id.in_(matches)), mailbox.id,
                            after=body.after, before=body.before)
    if body.cursor:
        query = query.where(newest_first_after(*decode_cursor(body.cursor, kind=_CURSOR_KIND)))
    rows = list(session.scalars(query.order_by(Message.internal_date.desc(), Message.id.desc())
                                .limit(body.limit + 1)))
    page, more = rows[:body.limit], len(rows) > body.limit
    roles: dict[Any, list[str]] = {}
    if page:
        for message_id, role in session.execute(
                select(MessageAddress.message_id, MessageAddress.role).where(
                    MessageAddress.message_id.in_([m.id for m in page]),
                    MessageAddress.address_index == index)):
            roles.setdefault(message_id, []).append(role)
    items = []
    for message in page:
        view = render(store, session, access, message, View.metadata)
        view["roles"] = sorted(roles.get(message.id, []), key=lambda r: _ROLE_ORDER.get(r, 9))
        items.append(view)
    next_cursor = (encode_cursor(page[-1].internal_date, page[-1].id, kind=_CURSOR_KIND)
                   if more else None)
    return {"items": items, "next_cursor": next_cursor}


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Not an email address (`invalid_address`) or a bad cursor "
                         "(problem+json)"},
    403: {"description": "Denied by policy (problem+json)"},
    404: {"description": "No such mailbox for this caller (problem+json)"},
    422: {"description": "Invalid body (problem+json)"}}


router = GuardedRouter(prefix="/v1", tags=["mailboxes"])
router.add("POST", "/mailboxes/{mailbox_id}/contact-timeline", contact_timeline,
           action=Action.contact_timeline,
           resource=mailbox_resource("message", owner_only=True),
           response_model=TimelinePage, response_model_exclude_unset=True,
           responses=_ERRORS, tags=["contact timeline"],
           summary="All mail exchanged with one address",
           description="Newest first, through the address blind index. The address is in "
                       "the body so it never appears in a URL.")
