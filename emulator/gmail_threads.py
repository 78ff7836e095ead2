"""users.threads.*: list, get, modify, trash, untrash, delete."""

from __future__ import annotations

from typing import Any

from . import errors, paging
from .gmail_api import Ctx, route
from .gmail_messages import _labels, check_id, get_format, listing
from .mailbox import StoredMessage
from .render import thread_resource, thread_summary


@route("GET", "threads", "gmail.users.threads.list")
def list_threads(ctx: Ctx) -> dict[str, Any]:
    size = ctx.qint("maxResults", 100, 500) or 100
    matched = listing(ctx, ctx.mailbox)
    seen: dict[str, tuple[int, int]] = {}
    for msg in matched:  # newest first: the first hit is the thread's latest matching message
        seen.setdefault(msg.thread_id, msg.sort_key)
    ordered = sorted(seen.items(), key=lambda kv: kv[1], reverse=True)
    page, token = paging.page_desc(ordered, lambda kv: kv[1], ctx.q("pageToken"), size)
    out: dict[str, Any] = {}
    if page:
        out["threads"] = [thread_summary(ctx.mailbox.thread_messages(tid)) for tid, _k in page]
    if token:
        out["nextPageToken"] = token
    out["resultSizeEstimate"] = len(ordered)
    return out


def _thread(ctx: Ctx) -> list[StoredMessage]:
    return ctx.mailbox.thread_messages(check_id(ctx.params["id"]))


@route("GET", "threads/{id}", "gmail.users.threads.get")
def get_thread(ctx: Ctx) -> dict[str, Any]:
    fmt = get_format(ctx)
    if fmt == "raw":
        raise errors.invalid_argument("Invalid value at 'format' (raw)")
    return thread_resource(_thread(ctx), fmt, ctx.qlist("metadataHeaders"))


def _brief(messages: list[StoredMessage]) -> dict[str, Any]:
    return thread_resource(messages, "minimal") | {
        "messages": [{"id": m.id, "threadId": m.thread_id, "labelIds": m.label_list()}
                     for m in messages]}


@route("POST", "threads/{id}/modify", "gmail.users.threads.modify")
def modify_thread(ctx: Ctx) -> dict[str, Any]:
    body = ctx.json()
    messages = _thread(ctx)
    add, remove = _labels(body, "addLabelIds"), _labels(body, "removeLabelIds")
    ctx.mailbox.check_labels(set(add) | set(remove))
    for msg in messages:
        ctx.mailbox.modify(msg.id, add, remove)
    return _brief(messages)


@route("POST", "threads/{id}/trash", "gmail.users.threads.trash")
def trash_thread(ctx: Ctx) -> dict[str, Any]:
    messages = _thread(ctx)
    for msg in messages:
        ctx.mailbox.trash(msg.id)
    return _brief(messages)


@route("POST", "threads/{id}/untrash", "gmail.users.threads.untrash")
def untrash_thread(ctx: Ctx) -> dict[str, Any]:
    messages = _thread(ctx)
    for msg in messages:
        ctx.mailbox.untrash(msg.id)
    return _brief(messages)


@route("DELETE", "threads/{id}", "gmail.users.threads.delete")
def delete_thread(ctx: Ctx) -> None:
    for msg in _thread(ctx):
        ctx.mailbox.delete(msg.id)
