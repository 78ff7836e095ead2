"""Messages in the encrypted store: list (metadata), get (`?view=metadata|content`), content,
raw. Metadata and content are different policy actions: the list and the metadata view decide
`mail.message.list` / `mail.message.read_metadata`, the content view, `/content` and `/raw`
decide `mail.message.read_content`."""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Ge, Le
from fastapi import Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from gateway.accounts.deps import SessionDep
from gateway.guard.routing import AccessDep, GuardedRouter, served
from gateway.kit.errors import PolicyDenied
from gateway.kit.ids import GMAIL_ID_PATTERN, LABEL_ID_PATTERN
from gateway.kit.request_session import run_and_commit
from gateway.kit.strict import DIGITS, Instant, QueryFlag
from gateway.mail.models import Message
from gateway.mail.read.pagination import decode_cursor, encode_cursor
from gateway.mail.read.rendering import redactions, render
from gateway.mail.read.repository import (
    address_index,
    message_filters,
    newest_first_after,
    with_address,
)
from gateway.mail.read.resolvers import MessageColumns, message_resource
from gateway.mail.read.schemas import MessageOut, MessagePage
from gateway.mail.read.views import View, ViewQuery, add_viewed, view_of
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import mailbox_resource
from gateway.policy.enforcement import Access
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of

router = GuardedRouter(prefix="/v1/mailboxes/{mailbox_id}/messages", tags=["messages"])
MAX_PAGE = 200

Limit = Annotated[int, Ge(1), Le(MAX_PAGE), DIGITS, Query(description="Page size (1-200)")]
Cursor = Annotated[str | None, Query(max_length=400, description="`next_cursor` of the "
                                                                 "previous page")]
LabelId = Annotated[str | None, Query(pattern=LABEL_ID_PATTERN, description="A Gmail label id "
                                      "(INBOX, UNREAD, Label_12, ...)")]
GmailIdQuery = Annotated[str | None, Query(pattern=GMAIL_ID_PATTERN)]
DateQuery = Annotated[Instant | None, Query(description="ISO 8601 with a timezone")]


def store_of(request: Request) -> MessageStore:
    store: MessageStore = runtime_of(request).service(MessageStore)
    return store


async def list_messages(
    mailbox_id: str, request: Request, session: SessionDep, access: AccessDep,
    limit: Limit = 50, cursor: Cursor = None, label: LabelId = None,
    thread_id: GmailIdQuery = None,
    unread: Annotated[QueryFlag | None, Query(description="Only unread (true) or read (false)")]
    = None,
    has_attachment: bool | None = None,
    after: DateQuery = None, before: DateQuery = None,
    contact: Annotated[str | None, Query(
        max_length=320, description="Only mail exchanged with this address. Prefer POST "
                                    "/contact-timeline, which keeps the address out of URLs")]
    = None,
) -> dict[str, Any]:
    mailbox: Mailbox = request.state.mailbox
    store = store_of(request)

    def page_of_messages() -> dict[str, Any]:
        # Metadata only: the sealed body and raw message of up to 200 rows are never read.
        query = message_filters(select(Message).where(Message.mailbox_id == mailbox.id)
                                .options(defer(Message.body), defer(Message.raw)), mailbox.id,
                                label=label, thread_id=thread_id, unread=unread,
                                has_attachment=has_attachment, after=after, before=before)
        if contact is not None:
            query = with_address(query, mailbox, address_index(store.crypto, mailbox, contact))
        if cursor:
            query = query.where(newest_first_after(*decode_cursor(cursor)))
        query = query.order_by(Message.internal_date.desc(), Message.id.desc()).limit(limit + 1)
        rows = list(session.scalars(query))
        page, more = rows[:limit], len(rows) > limit
        return {"items": [render(store, session, access, m, View.metadata) for m in page],
                "next_cursor": (encode_cursor(page[-1].internal_date, page[-1].id) if more
                                else None)}

    return await run_and_commit(session, page_of_messages)


# The single-message reads do their work in their Guard (`serve`): decision, log, the store's
# view (decryption may fetch a data key) and the request's commit in one thread-pool trip; the
# `async` endpoints only hand back what was served (docs/mail-api.md#performance).
def serve_viewed(request: Request, session: Session, access: Access) -> dict[str, Any]:
    return render(store_of(request), session, access, request.state.message, view_of(access))


def serve_content(request: Request, session: Session, access: Access) -> dict[str, Any]:
    return render(store_of(request), session, access, request.state.message, View.content)


def serve_raw(request: Request, session: Session, access: Access) -> bytes:
    if redactions(access):   # the raw bytes hold every field: nothing can be withheld
        raise PolicyDenied(("content_redacted",),
                           detail="the decision withholds part of this message from this caller")
    return store_of(request).raw_bytes(session, access, request.state.message)


async def get_message(mailbox_id: str, message_id: str, request: Request,
                      view: ViewQuery = View.metadata) -> dict[str, Any]:
    out: dict[str, Any] = served(request)
    return out


async def get_content(mailbox_id: str, message_id: str, request: Request) -> dict[str, Any]:
    out: dict[str, Any] = served(request)
    return out


async def get_raw(mailbox_id: str, message_id: str, request: Request) -> Response:
    raw: bytes = served(request)
    return Response(raw, media_type="message/rfc822",
                    headers={"X-Content-Type-Options": "nosniff",
                             "Content-Disposition": f'attachment; filename="{message_id}.eml"'})


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad cursor or address (problem+json)"},
    403: {"description": "Denied by policy; `reasons` says why (problem+json)"},
    404: {"description": "No such mailbox/message for this caller (problem+json)"},
    422: {"description": "Invalid parameter (problem+json)"}}

router.add("GET", "", list_messages, action=Action.message_list,
           resource=mailbox_resource("message", owner_only=True),
           response_model=MessagePage, response_model_exclude_unset=True, responses=_ERRORS,
           summary="List messages",
           description="Newest first, keyset-paginated, filtered on the clear columns and the "
                       "address blind index. Metadata only (policy action "
                       "`mail.message.list`).")
add_viewed(router, "GET", "/{message_id}", get_message,
           actions={View.metadata: Action.message_read_metadata,
                    View.content: Action.message_read_content},
           resource=message_resource(columns=MessageColumns.by_view), serve=serve_viewed,
           response_model=MessageOut,
           response_model_exclude_unset=True, responses=_ERRORS, summary="Get a message",
           description="`view=metadata` (default) decides `mail.message.read_metadata`; "
                       "`view=content` decides `mail.message.read_content`.")
router.add("GET", "/{message_id}/content", get_content, action=Action.message_read_content,
           resource=message_resource(columns=MessageColumns.content), serve=serve_content,
           response_model=MessageOut,
           response_model_exclude_unset=True, responses=_ERRORS,
           summary="Get a message's content", description="Same as `?view=content`.")
router.add("GET", "/{message_id}/raw", get_raw, action=Action.message_read_content,
           resource=message_resource(), serve=serve_raw, response_class=Response, responses={
               200: {"content": {"message/rfc822": {"schema": {"type": "string",
                                                               "format": "binary"}}},
                     "description": "The RFC 5322 bytes exactly as Gmail returned them"},
               **_ERRORS},
           summary="Get a message's raw RFC 5322 bytes")
