"""Messages in the encrypted store: list (metadata), get (metadata view), content, raw.
Metadata and content are different policy actions, hence different routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request, Response
from sqlalchemy import and_, or_, select

from gateway.accounts.deps import SessionDep
from gateway.kit.errors import BadRequest
from gateway.kit.routing import AccessDep, GuardedRouter
from gateway.mail.models import Mailbox, Message, MessageAddress
from gateway.mail.pagination import decode_cursor, encode_cursor
from gateway.mail.resolvers import mailbox_resource, message_resource
from gateway.mail.store import MessageStore
from gateway.policy.vocabulary import Action

router = GuardedRouter(prefix="/v1/mailboxes/{mailbox_id}/messages", tags=["messages"])
MAX_PAGE = 200


def _store(request: Request) -> MessageStore:
    store: MessageStore = request.app.state.message_store
    return store


def list_messages(
    mailbox_id: str, request: Request, session: SessionDep, access: AccessDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    label: Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")] = None,
    thread_id: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9a-zA-Z]+$")] = None,
    unread: bool | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
    contact: Annotated[str | None, Query(max_length=320)] = None,
) -> dict[str, Any]:
    mailbox: Mailbox = request.state.mailbox
    query = select(Message).where(Message.mailbox_id == mailbox.id)
    if thread_id:
        query = query.where(Message.thread_id == thread_id)
    if after:
        query = query.where(Message.internal_date >= after)
    if before:
        query = query.where(Message.internal_date < before)
    if contact:
        try:
            index = _store(request).crypto.blind_index_email(mailbox.tenant_id, contact)
        except ValueError:
            raise BadRequest("contact is not an email address", code="invalid_address") from None
        query = query.where(Message.id.in_(select(MessageAddress.message_id).where(
            MessageAddress.mailbox_id == mailbox.id, MessageAddress.address_index == index)))
    if cursor:
        when, last_id = decode_cursor(cursor)
        query = query.where(or_(Message.internal_date < when,
                                and_(Message.internal_date == when, Message.id < last_id)))
    query = query.order_by(Message.internal_date.desc(), Message.id.desc())
    # Label filters run on the JSON list in Python (portable across SQLite and PostgreSQL),
    # scanning in batches until the page is full.
    filtered = label is not None or unread is not None
    batch_size = limit * 4 if filtered else limit + 1
    rows: list[Message] = []
    scan = query
    while len(rows) <= limit:
        batch = list(session.scalars(scan.limit(batch_size)))
        rows.extend(m for m in batch if _matches(m, label, unread))
        if len(batch) < batch_size:
            break
        last = batch[-1]
        scan = query.where(or_(Message.internal_date < last.internal_date,
                               and_(Message.internal_date == last.internal_date,
                                    Message.id < last.id)))
    page, more = rows[:limit], len(rows) > limit
    store = _store(request)
    return {"items": [store.metadata_view(session, access, m) for m in page],
            "next_cursor": encode_cursor(page[-1].internal_date, page[-1].id) if more else None}


def _matches(message: Message, label: str | None, unread: bool | None) -> bool:
    if label is not None and label not in message.label_ids:
        return False
    return unread is None or ("UNREAD" in message.label_ids) == unread


def get_message(mailbox_id: str, message_id: str, request: Request, session: SessionDep,
                access: AccessDep) -> dict[str, Any]:
    return _store(request).metadata_view(session, access, request.state.message)


def get_content(mailbox_id: str, message_id: str, request: Request, session: SessionDep,
                access: AccessDep) -> dict[str, Any]:
    return _store(request).content_view(session, access, request.state.message)


def get_raw(mailbox_id: str, message_id: str, request: Request, session: SessionDep,
            access: AccessDep) -> Response:
    raw = _store(request).raw_bytes(session, access, request.state.message)
    return Response(raw, media_type="message/rfc822")


router.add("GET", "", list_messages, action=Action.message_list,
           resource=mailbox_resource("message"))
router.add("GET", "/{message_id}", get_message, action=Action.message_read_metadata,
           resource=message_resource())
router.add("GET", "/{message_id}/content", get_content, action=Action.message_read_content,
           resource=message_resource())
router.add("GET", "/{message_id}/raw", get_raw, action=Action.message_read_content,
           resource=message_resource())
