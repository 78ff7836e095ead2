"""Threads from the store: list (newest activity first, keyset-paginated, with counts and
participants) and get (the thread's messages, oldest first, in the metadata or content view).

Listing threads exposes what listing messages does (ids, dates, counts and the summary fields
the decision allows), so it decides `mail.message.list`; getting one decides
`mail.thread.read_metadata` or `mail.thread.read_content` for exactly the page of messages
served (the resolver loads the page before the decision, so the log names those ids).

Threads are computed from `messages`: no second table to keep consistent with sync. A page's
threads are found by walking the messages newest first (gateway.mail.read.thread_scan), then counted
with one grouped query over those threads only."""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Ge, Le
from fastapi import Query, Request
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from gateway.accounts.deps import SessionDep
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.kit.ids import LABEL_ID_PATTERN
from gateway.kit.strict import DIGITS, QueryFlag
from gateway.mail.models import Message
from gateway.mail.read.pagination import decode_cursor, encode_cursor
from gateway.mail.read.rendering import render
from gateway.mail.read.repository import has_label
from gateway.mail.read.resolvers import THREAD_PAGE_MAX, ThreadMessagePage, thread_resource
from gateway.mail.read.schemas import ThreadOut, ThreadPage
from gateway.mail.read.thread_scan import Position, ThreadFilter, thread_page
from gateway.mail.read.views import View, ViewQuery, add_viewed, view_of
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import mailbox_resource
from gateway.policy.enforcement import Access
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of

THREAD_LIST_MAX = 100
PARTICIPANT_WINDOW = 10  # newest messages per thread whose addresses make `participants`
_PARTICIPANT_FIELDS = ("from", "to", "cc")
_CURSOR_KIND = "threads"


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def list_threads(
    mailbox_id: str, request: Request, session: SessionDep, access: AccessDep,
    limit: Annotated[int, Ge(1), Le(THREAD_LIST_MAX), DIGITS, Query()] = 25,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    label: Annotated[str | None, Query(pattern=LABEL_ID_PATTERN, description="Threads with at "
                                       "least one message carrying this label id")] = None,
    unread: Annotated[QueryFlag | None, Query(description="Threads with (true) or without (false) "
                                         "unread messages")] = None,
    has_attachment: bool | None = None,
) -> dict[str, Any]:
    mailbox: Mailbox = request.state.mailbox
    position = Position(*decode_cursor(cursor, kind=_CURSOR_KIND)) if cursor else None
    picked, more = thread_page(session, mailbox, ThreadFilter(label, unread, has_attachment),
                               position, limit)
    thread_ids = [thread_id for thread_id, _ in picked]
    stats = _stats(session, mailbox, thread_ids)
    recent = _recent_views(session, runtime_of(request).service(MessageStore), access, mailbox,
                           thread_ids)
    items = [_summary(stats[t], recent.get(t, []), access) for t in thread_ids if t in stats]
    last = picked[-1][1] if picked else None
    next_cursor = (encode_cursor(last.when, last.message_id, kind=_CURSOR_KIND)
                   if more and last else None)
    return {"items": items, "next_cursor": next_cursor}


def _stats(session: Session, mailbox: Mailbox, thread_ids: list[str]) -> dict[str, Any]:
    """Counts and first/last dates of the page's threads (one grouped query over them only)."""
    if not thread_ids:
        return {}
    rows = session.execute(
        select(Message.thread_id, func.count(Message.id),
               _count_where(has_label("UNREAD", mailbox.id)),
               func.coalesce(func.sum(Message.attachment_count), 0),
               func.min(Message.internal_date), func.max(Message.internal_date))
        .where(Message.mailbox_id == mailbox.id, Message.thread_id.in_(thread_ids))
        .group_by(Message.thread_id))
    return {row[0]: row for row in rows}


def _recent_views(session: Session, store: MessageStore, access: Access, mailbox: Mailbox,
                  thread_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Metadata views (as the decision allows) of each thread's newest messages, newest first."""
    if not thread_ids:
        return {}
    rank = func.row_number().over(
        partition_by=Message.thread_id,
        order_by=(Message.internal_date.desc(), Message.id.desc())).label("rank")
    ranked = (select(Message.id, rank)
              .where(Message.mailbox_id == mailbox.id, Message.thread_id.in_(thread_ids))
              .subquery())
    messages = session.scalars(
        select(Message).join(ranked, ranked.c.id == Message.id)
        .where(ranked.c.rank <= PARTICIPANT_WINDOW)
        .order_by(Message.internal_date.desc(), Message.id.desc()))
    views: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        views.setdefault(message.thread_id, []).append(
            render(store, session, access, message, View.metadata))
    return views


def _summary(row: Any, recent: list[dict[str, Any]], access: Access) -> dict[str, Any]:
    thread_id, count, unread_count, attachments, first_at, last_at = row
    out: dict[str, Any] = {
        "id": thread_id, "message_count": int(count), "unread_count": int(unread_count),
        "attachment_count": int(attachments), "first_message_at": first_at,
        "last_message_at": last_at}
    newest = recent[0] if recent else {}
    redacted = set(newest.get("redacted", ()))
    for field in ("subject", "snippet"):
        if field in newest:
            out[field] = newest[field]
    if not redacted & set(_PARTICIPANT_FIELDS):
        seen: dict[str, None] = {}
        for view in recent:
            for field in _PARTICIPANT_FIELDS:
                for address in view.get(field) or ():
                    seen.setdefault(address.lower(), None)
        out["participants"] = sorted(seen)
    else:
        redacted.add("participants")
    out["redacted"] = sorted(redacted)
    return out


def get_thread(
    mailbox_id: str, thread_id: str, request: Request, session: SessionDep, access: AccessDep,
    view: ViewQuery = View.metadata,
    limit: Annotated[int, Ge(1), Le(THREAD_PAGE_MAX), DIGITS, Query(
                                description="Messages per page, oldest first")] = 50,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> dict[str, Any]:
    mailbox: Mailbox = request.state.mailbox
    page: ThreadMessagePage = request.state.thread_page
    store: MessageStore = runtime_of(request).service(MessageStore)
    chosen = view_of(access)
    count = session.scalar(select(func.count(Message.id)).where(
        Message.mailbox_id == mailbox.id, Message.thread_id == page.thread_id))
    return {"id": page.thread_id, "view": chosen.value, "message_count": int(count or 0),
            "messages": [render(store, session, access, m, chosen) for m in page.messages],
            "next_cursor": page.next_cursor}


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad cursor (problem+json)"},
    403: {"description": "Denied by policy; `reasons` says why (problem+json)"},
    404: {"description": "No such mailbox/thread for this caller (problem+json)"},
    422: {"description": "Invalid parameter (problem+json)"}}


router = GuardedRouter(prefix="/v1", tags=["mailboxes"])
router.add("GET", "/mailboxes/{mailbox_id}/threads", list_threads,
           action=Action.message_list,
           resource=mailbox_resource("thread", owner_only=True),
           response_model=ThreadPage, response_model_exclude_unset=True,
           responses=_ERRORS, tags=["threads"], summary="List threads",
           description="Newest activity first, keyset-paginated. `participants`, `subject` "
                       "and `snippet` appear only when the decision does not redact them. "
                       "Policy action `mail.message.list`.")
add_viewed(router, "GET", "/mailboxes/{mailbox_id}/threads/{thread_id}", get_thread,
           actions={View.metadata: Action.thread_read_metadata,
                    View.content: Action.thread_read_content},
           resource=thread_resource(), response_model=ThreadOut,
           response_model_exclude_unset=True, responses=_ERRORS, tags=["threads"],
           summary="Get a thread",
           description="The thread's messages, oldest first, paginated. `view=metadata` "
                       "decides `mail.thread.read_metadata`, `view=content` "
                       "`mail.thread.read_content`.")
