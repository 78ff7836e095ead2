"""users.drafts.*: create, get, list, update, send, delete."""

from __future__ import annotations

from typing import Any

from . import errors, paging
from .gmail_api import Ctx, route
from .gmail_messages import get_format, message_input, send_raw, short, thread_of
from .mailbox import StoredMessage
from .render import message_ref, message_resource


def _draft(ctx: Ctx, draft_id: str | None = None) -> tuple[str, StoredMessage]:
    draft_id = draft_id or ctx.params["id"]
    message_id = ctx.mailbox.drafts.get(draft_id)
    if message_id is None or message_id not in ctx.mailbox.messages:
        raise errors.not_found()
    return draft_id, ctx.mailbox.messages[message_id]


def _resource(draft_id: str, msg: StoredMessage) -> dict[str, Any]:
    return {"id": draft_id, "message": short(msg)}


@route("POST", "drafts", "gmail.users.drafts.create", upload=True)
def create_draft(ctx: Ctx) -> dict[str, Any]:
    raw, meta = message_input(ctx, "message")
    msg = ctx.mailbox.add_message(raw, {"DRAFT"}, thread_id=thread_of(meta))
    draft_id = ctx.mailbox.new_draft_id()
    ctx.mailbox.drafts[draft_id] = msg.id
    return _resource(draft_id, msg)


@route("GET", "drafts/{id}", "gmail.users.drafts.get")
def get_draft(ctx: Ctx) -> dict[str, Any]:
    fmt = get_format(ctx)
    draft_id, msg = _draft(ctx)
    return {"id": draft_id, "message": message_resource(msg, fmt)}


@route("GET", "drafts", "gmail.users.drafts.list")
def list_drafts(ctx: Ctx) -> dict[str, Any]:
    size = ctx.qint("maxResults", 100, 500) or 100
    items = [(d, ctx.mailbox.messages[m]) for d, m in ctx.mailbox.drafts.items()
             if m in ctx.mailbox.messages]
    if ctx.q("q"):
        from .query import compile_query
        pred, _named = compile_query(ctx.mailbox, ctx.q("q") or "", ctx.state.clock.now_ms())
        items = [(d, m) for d, m in items if pred(m)]
    items.sort(key=lambda dm: dm[1].sort_key, reverse=True)
    page, token = paging.page_desc(items, lambda dm: dm[1].sort_key, ctx.q("pageToken"), size)
    out: dict[str, Any] = {}
    if page:
        out["drafts"] = [{"id": d, "message": message_ref(m)} for d, m in page]
    if token:
        out["nextPageToken"] = token
    out["resultSizeEstimate"] = len(items)
    return out


@route("PUT", "drafts/{id}", "gmail.users.drafts.update", upload=True)
def update_draft(ctx: Ctx) -> dict[str, Any]:
    draft_id, old = _draft(ctx)
    raw, meta = message_input(ctx, "message")
    thread_id = thread_of(meta) or old.thread_id
    ctx.mailbox.delete(old.id)
    msg = ctx.mailbox.add_message(raw, {"DRAFT"}, thread_id=thread_id)
    ctx.mailbox.drafts[draft_id] = msg.id
    return _resource(draft_id, msg)


@route("POST", "drafts/send", "gmail.users.drafts.send", upload=True)
def send_draft(ctx: Ctx) -> dict[str, Any]:
    if ctx.upload:
        raw, meta = message_input(ctx, "message")
        draft_id = meta.get("id")
    else:
        body = ctx.json()
        draft_id = body.get("id")
        raw, meta = b"", body.get("message") or {}
        if not isinstance(meta, dict):
            raise errors.invalid_argument("Invalid value for message")
        if meta.get("raw"):
            raw, meta = message_input(ctx, "message")
    if not isinstance(draft_id, str) or not draft_id:
        raise errors.invalid_argument("Invalid draft")
    _id, old = _draft(ctx, draft_id)
    raw = raw or old.raw
    thread_id = thread_of(meta) or old.thread_id
    ctx.mailbox.delete(old.id)
    ctx.mailbox.drafts.pop(draft_id, None)
    return short(send_raw(ctx, raw, thread_id))


@route("DELETE", "drafts/{id}", "gmail.users.drafts.delete")
def delete_draft(ctx: Ctx) -> None:
    draft_id, msg = _draft(ctx)
    ctx.mailbox.delete(msg.id)
    ctx.mailbox.drafts.pop(draft_id, None)
