"""users.messages.*: list, get, send, insert, import, modify, trash, untrash, delete,
batchModify, batchDelete and attachments.get."""

from __future__ import annotations

import email.utils
import json
import secrets
from typing import Any

from . import errors, paging
from .gmail_api import Ctx, route
from .mailbox import Mailbox, StoredMessage
from .mime import (
    addresses,
    b64url_padded,
    decode_b64_any,
    parse_attachment_id,
    parse_head,
)
from .multipart import boundary_of, split, split_headers
from .query import compile_query
from .render import check_format, message_ref, message_resource

HIDDEN = frozenset({"SPAM", "TRASH"})
_ID_CHARS = frozenset("0123456789abcdef")


def check_id(value: str) -> str:
    if not value or len(value) > 24 or not set(value) <= _ID_CHARS:
        raise errors.invalid_argument("Invalid id value")
    return value


def _raw_from(meta: dict[str, Any]) -> bytes:
    raw = meta.get("raw")
    if not isinstance(raw, str) or not raw:
        raise errors.invalid_argument(
            "'raw' RFC822 payload message string or uploading message via /upload/* URL "
            "required")
    try:
        return decode_b64_any(raw)
    except ValueError as exc:
        raise errors.invalid_argument("Invalid value for ByteString: raw") from exc


def message_input(ctx: Ctx, wrapper: str | None = None) -> tuple[bytes, dict[str, Any]]:
    """The raw message and its metadata from a JSON body or a /upload request.

    ``wrapper`` is "message" for drafts, whose JSON is ``{"message": {...}}``."""
    if ctx.upload:
        upload_type = ctx.q("uploadType", "media")
        if upload_type == "media":
            return ctx.body, {}
        if upload_type == "multipart":
            boundary = boundary_of(ctx.headers.get("content-type", ""))
            parts = split(ctx.body, boundary) if boundary else []
            if len(parts) != 2:
                raise errors.bad_request("Invalid multipart request with 0 mime parts.")
            _h, meta_bytes = split_headers(parts[0])
            _h2, media = split_headers(parts[1])
            try:
                meta = json.loads(meta_bytes) if meta_bytes.strip() else {}
            except ValueError as exc:
                raise errors.invalid_argument("Invalid JSON payload received.") from exc
            if wrapper:
                meta = meta.get(wrapper) or {}
            return media, meta
        raise errors.bad_request(f"Invalid upload type: {upload_type}")
    body = ctx.json()
    meta = body.get(wrapper) if wrapper else body
    if not isinstance(meta, dict):
        raise errors.invalid_argument(f"'{wrapper}' is required")
    return _raw_from(meta), meta


def thread_of(meta: dict[str, Any]) -> str | None:
    value = meta.get("threadId")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise errors.invalid_argument("Invalid value for threadId")
    return value


def _labels(meta: dict[str, Any], key: str = "labelIds") -> list[str]:
    value = meta.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.invalid_argument(f"Invalid value for {key}")
    return value


def short(msg: StoredMessage) -> dict[str, Any]:
    out = message_ref(msg)
    if msg.labels:
        out["labelIds"] = msg.label_list()
    return out


def listing(ctx: Ctx, mailbox: Mailbox) -> list[StoredMessage]:
    """Messages matching labelIds / q / includeSpamTrash, newest first."""
    label_ids = ctx.qlist("labelIds")
    mailbox.check_labels(label_ids, modifying=False)
    q = ctx.q("q")
    if q and ctx.scopes_only_metadata():
        raise errors.forbidden("Metadata scope does not support 'q' parameter")
    include_hidden = ctx.qbool("includeSpamTrash")
    pred, named = (compile_query(mailbox, q, ctx.state.clock.now_ms()) if q
                   else (lambda _m: True, set()))
    shown = HIDDEN & (set(label_ids) | named)
    out = []
    for msg in mailbox.messages.values():
        if not include_hidden and (msg.labels & HIDDEN) - shown:
            continue
        if any(lid not in msg.labels for lid in label_ids):
            continue
        if pred(msg):
            out.append(msg)
    out.sort(key=lambda m: m.sort_key, reverse=True)
    return out


@route("GET", "messages", "gmail.users.messages.list")
def list_messages(ctx: Ctx) -> dict[str, Any]:
    size = ctx.qint("maxResults", 100, 500) or 100
    found = listing(ctx, ctx.mailbox)
    page, token = paging.page_desc(found, lambda m: m.sort_key, ctx.q("pageToken"), size)
    out: dict[str, Any] = {}
    if page:
        out["messages"] = [message_ref(m) for m in page]
    if token:
        out["nextPageToken"] = token
    out["resultSizeEstimate"] = len(found)
    return out


def get_format(ctx: Ctx) -> str:
    fmt = check_format(ctx.q("format"))
    if fmt in ("full", "raw") and ctx.scopes_only_metadata():
        raise errors.forbidden(f"Metadata scope doesn't allow format {fmt.upper()}")
    return fmt


@route("GET", "messages/{id}", "gmail.users.messages.get")
def get_message(ctx: Ctx) -> dict[str, Any]:
    fmt = get_format(ctx)
    msg = ctx.mailbox.get(check_id(ctx.params["id"]))
    return message_resource(msg, fmt, ctx.qlist("metadataHeaders"))


def _ensure_headers(raw: bytes, sender: str) -> bytes:
    """Gmail adds Date, Message-ID and From to sent mail when the client left them out."""
    head_end = raw.find(b"\r\n\r\n")
    sep = b"\r\n"
    if head_end < 0:
        head_end, sep = raw.find(b"\n\n"), b"\n"
    head = raw[: head_end if head_end >= 0 else len(raw)].lower()
    extra: list[bytes] = []
    if not head.startswith(b"from:") and b"\nfrom:" not in head:
        extra.append(b"From: " + sender.encode())
    if not head.startswith(b"date:") and b"\ndate:" not in head:
        extra.append(b"Date: " + email.utils.formatdate(localtime=False).encode())
    if not head.startswith(b"message-id:") and b"\nmessage-id:" not in head:
        token = secrets.token_hex(12)
        extra.append(f"Message-ID: <CAemu{token}@mail.gmail.com>".encode())
    return b"".join(e + sep for e in extra) + raw


def send_raw(ctx: Ctx, raw: bytes, thread_id: str | None) -> StoredMessage:
    mailbox = ctx.mailbox
    raw = _ensure_headers(raw, mailbox.email)
    parsed = parse_head(raw)
    recipients = addresses(parsed.headers_all("To") + parsed.headers_all("Cc")
                           + parsed.headers_all("Bcc"))
    if not recipients:
        raise errors.invalid_argument("Recipient address required")
    labels = {"SENT"}
    if mailbox.email in recipients:
        labels |= {"INBOX", "UNREAD"}
    msg = mailbox.add_message(raw, labels, thread_id=thread_id)
    for address in sorted(set(recipients) - {mailbox.email}):
        other = ctx.state.user(address)
        if other is not None:
            # After our own lock is released: two users mailing each other cannot deadlock.
            ctx.after.append(lambda box=other.mailbox: box.add_message(
                raw, {"INBOX", "UNREAD", "CATEGORY_PERSONAL"}))
    return msg


@route("POST", "messages/send", "gmail.users.messages.send", upload=True)
def send_message(ctx: Ctx) -> dict[str, Any]:
    raw, meta = message_input(ctx)
    return short(send_raw(ctx, raw, thread_of(meta)))


def _store(ctx: Ctx, default_source: str) -> dict[str, Any]:
    raw, meta = message_input(ctx)
    labels = set(_labels(meta))
    ctx.mailbox.check_labels(labels - {"SENT", "DRAFT"}, modifying=False)
    source = ctx.q("internalDateSource", default_source) or default_source
    if source not in ("receivedTime", "dateHeader"):
        raise errors.invalid_argument(f"Invalid internalDateSource: {source}")
    if ctx.qbool("deleted"):
        return {"id": secrets.token_hex(8), "threadId": secrets.token_hex(8)}
    if ctx.mailbox.is_own_address(parse_head(raw).headers_all("From")):
        labels.add("SENT")
    msg = ctx.mailbox.add_message(raw, labels, thread_id=thread_of(meta),
                                  date_source=source)
    return short(msg)


@route("POST", "messages", "gmail.users.messages.insert", upload=True)
def insert_message(ctx: Ctx) -> dict[str, Any]:
    return _store(ctx, "receivedTime")


@route("POST", "messages/import", "gmail.users.messages.import", upload=True)
def import_message(ctx: Ctx) -> dict[str, Any]:
    return _store(ctx, "dateHeader")


@route("POST", "messages/{id}/modify", "gmail.users.messages.modify")
def modify_message(ctx: Ctx) -> dict[str, Any]:
    body = ctx.json()
    msg = ctx.mailbox.get(check_id(ctx.params["id"]))
    msg = ctx.mailbox.modify(msg.id, _labels(body, "addLabelIds"),
                             _labels(body, "removeLabelIds"))
    return short(msg)


@route("POST", "messages/{id}/trash", "gmail.users.messages.trash")
def trash_message(ctx: Ctx) -> dict[str, Any]:
    return short(ctx.mailbox.trash(check_id(ctx.params["id"])))


@route("POST", "messages/{id}/untrash", "gmail.users.messages.untrash")
def untrash_message(ctx: Ctx) -> dict[str, Any]:
    return short(ctx.mailbox.untrash(check_id(ctx.params["id"])))


@route("DELETE", "messages/{id}", "gmail.users.messages.delete")
def delete_message(ctx: Ctx) -> None:
    ctx.mailbox.delete(check_id(ctx.params["id"]))


def _ids(body: dict[str, Any]) -> list[str]:
    ids = body.get("ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise errors.invalid_argument("Invalid value for ids")
    if len(ids) > 1000:
        raise errors.invalid_argument("Too many ids: at most 1000 are allowed")
    return ids


@route("POST", "messages/batchModify", "gmail.users.messages.batchModify")
def batch_modify(ctx: Ctx) -> None:
    body = ctx.json()
    add, remove = _labels(body, "addLabelIds"), _labels(body, "removeLabelIds")
    ctx.mailbox.check_labels(set(add) | set(remove))
    for message_id in _ids(body):
        if message_id in ctx.mailbox.messages:
            ctx.mailbox.modify(message_id, add, remove)


@route("POST", "messages/batchDelete", "gmail.users.messages.batchDelete")
def batch_delete(ctx: Ctx) -> None:
    for message_id in _ids(ctx.json()):
        if message_id in ctx.mailbox.messages:
            ctx.mailbox.delete(message_id)


@route("GET", "messages/{messageId}/attachments/{id}", "gmail.users.messages.attachments.get")
def get_attachment(ctx: Ctx) -> dict[str, Any]:
    msg = ctx.mailbox.get(check_id(ctx.params["messageId"]))
    att = msg.parsed.attachments.get(ctx.params["id"])
    if att is None:
        parsed_id = parse_attachment_id(ctx.params["id"])
        if parsed_id is None:
            raise errors.invalid_argument("Invalid attachment token")
        raise errors.not_found()
    return {"attachmentId": att.attachment_id, "size": len(att.data),
            "data": b64url_padded(att.data)}
