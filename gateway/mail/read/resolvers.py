"""Resource resolvers for message and thread routes: the message or the page of a thread named in
the path, within a mailbox the caller may see (gateway.mailboxes.resolvers: another tenant's or,
for an end user, another owner's mailbox is a 404, and so is a malformed id), loaded before the
decision so the decision and the operation log name exactly the messages served."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Request
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, defer

from gateway.accounts.deps import Caller
from gateway.guard.routing import ResourceResolver
from gateway.kit.errors import NotFound, ValidationFailed
from gateway.kit.ids import GMAIL_ID, uuid_or_not_found
from gateway.mail.models import Message
from gateway.mail.read.pagination import decode_cursor, encode_cursor
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import gmail_id_or_not_found, load_visible_mailbox, resolved
from gateway.policy.enforcement import Resolved
from gateway.policy.vocabulary import ActorKind

THREAD_PAGE_DEFAULT = 50
THREAD_PAGE_MAX = 100


class MessageColumns(StrEnum):
    """Which sealed columns a message route reads: a metadata read needs only the summary, and
    loading the 50 KB body and the raw RFC 5322 bytes it never opens costs PostgreSQL, the
    driver and the ORM a copy each (the other columns load on first access if ever needed)."""

    metadata = "metadata"   # summary only
    content = "content"     # summary + body
    by_view = "by_view"     # `?view=content` → content, else metadata (ViewGuard checked it)
    all = "all"


_DEFERRED = {MessageColumns.metadata: (defer(Message.body), defer(Message.raw)),
             MessageColumns.content: (defer(Message.raw),),
             MessageColumns.all: ()}


def load_message(session: Session, caller: Caller, raw_mailbox_id: str, raw_message_id: str,
                 columns: MessageColumns = MessageColumns.all) -> tuple[Mailbox, Message]:
    """The mailbox and the message in one query, with `load_visible_mailbox`'s 404s: another
    tenant's or (for an end user) another owner's mailbox is `mailbox_not_found`, an unknown or
    malformed message id in a visible mailbox `message_not_found`. The slower per-table lookups
    run only on the failure path, to tell those apart."""
    mailbox_id = uuid_or_not_found(raw_mailbox_id, what="mailbox", code="mailbox_not_found")
    if not GMAIL_ID.fullmatch(raw_message_id):
        load_visible_mailbox(session, caller, raw_mailbox_id)
        raise NotFound("no such message", code="message_not_found")
    query = (select(Mailbox, Message).join(Message, Message.mailbox_id == Mailbox.id)
             .where(Mailbox.id == mailbox_id, Mailbox.tenant_id == caller.tenant_id,
                    Message.gmail_id == raw_message_id)
             .options(*_DEFERRED[columns]))
    row = session.execute(query).first()
    if row is None:
        load_visible_mailbox(session, caller, raw_mailbox_id)
        raise NotFound("no such message", code="message_not_found")
    mailbox, message = row
    if caller.kind == ActorKind.end_user and mailbox.owner_principal_id != caller.principal_id:
        raise NotFound("no such mailbox", code="mailbox_not_found")
    return mailbox, message


def message_resource(action_kind: str = "message",
                     columns: MessageColumns = MessageColumns.all) -> ResourceResolver:
    """A message named by its Gmail id in the path, within a mailbox the caller may see.

    The message's thread id comes from the store, so a grant for the thread covers it."""

    def resolve(session: Session, caller: Caller, request: Request) -> Resolved:
        wanted = columns
        if wanted is MessageColumns.by_view:
            wanted = (MessageColumns.content if request.query_params.get("view") == "content"
                      else MessageColumns.metadata)
        mailbox, message = load_message(session, caller, request.path_params["mailbox_id"],
                                        str(request.path_params["message_id"]), wanted)
        request.state.mailbox = mailbox
        request.state.message = message
        return resolved(session, caller, mailbox, action_kind, (message.gmail_id,),
                        message.thread_id, request=request)

    return resolve


@dataclass(frozen=True)
class ThreadMessagePage:
    thread_id: str
    messages: list[Message]
    next_cursor: str | None


def _thread_page_params(request: Request) -> tuple[int, str | None]:
    """The page of a thread is chosen before the decision (the decision names the messages it
    covers), so the resolver reads `limit`/`cursor` itself; the route declares the same bounds."""
    raw_limit = request.query_params.get("limit")
    limit = THREAD_PAGE_DEFAULT
    if raw_limit is not None:
        if not re.fullmatch(r"[0-9]{1,4}", raw_limit) or not 1 <= int(raw_limit) <= THREAD_PAGE_MAX:
            message = f"limit must be an integer from 1 to {THREAD_PAGE_MAX}"
            raise ValidationFailed(message, extra={"errors": [
                {"location": ["query", "limit"], "message": message, "type": "range"}]})
        limit = int(raw_limit)
    return limit, request.query_params.get("cursor") or None


def thread_resource(resource_type: str = "thread") -> ResourceResolver:
    """A thread named by its Gmail id: the page of its messages (oldest first) is loaded here so
    the decision and the operation log name exactly the messages served."""

    def resolve(session: Session, caller: Caller, request: Request) -> Resolved:
        mailbox = load_visible_mailbox(session, caller, request.path_params["mailbox_id"])
        thread_id = gmail_id_or_not_found(str(request.path_params["thread_id"]), what="thread")
        limit, cursor = _thread_page_params(request)
        query = select(Message).where(Message.mailbox_id == mailbox.id,
                                      Message.thread_id == thread_id)
        scan = query
        if cursor:
            when, last_id = decode_cursor(cursor, kind="thread-messages")
            scan = query.where(or_(Message.internal_date > when,
                                   and_(Message.internal_date == when, Message.id > last_id)))
        rows = list(session.scalars(scan.order_by(Message.internal_date, Message.id)
                                    .limit(limit + 1)))
        page, more = rows[:limit], len(rows) > limit
        if not page and session.scalar(query.with_only_columns(Message.id).limit(1)) is None:
            raise NotFound("no such thread", code="thread_not_found")
        request.state.mailbox = mailbox
        request.state.thread_page = ThreadMessagePage(
            thread_id, page,
            encode_cursor(page[-1].internal_date, page[-1].id, kind="thread-messages")
            if more else None)
        return resolved(session, caller, mailbox, resource_type,
                        tuple(m.gmail_id for m in page), thread_id, request=request)

    return resolve
