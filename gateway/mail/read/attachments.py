"""Attachment download: the bytes of one MIME part of a stored message, streamed.

The bytes come from the sealed raw message in the store (decrypted with the `Access` of a
`mail.attachment.read` decision), not from Gmail: no Gmail call, no quota, and the same bytes
whether or not the mailbox's tokens are still alive. `part_id` is Gmail's partId numbering
(`0`, `1`, `1.0`...), as listed in the content view's `attachments`; only parts listed there
(a filename, `Content-Disposition: attachment`, an attached message or a report part) can be
downloaded. An attached message downloads as its own RFC 5322 bytes (`.eml`).

The response is built for a browser that may render it: `Content-Disposition: attachment` with
a filename stripped of anything that could break the header or name a path, `nosniff`, and a
sandboxing CSP, so an HTML or SVG attachment cannot run in the CRM's origin."""

from __future__ import annotations

import email
import email.policy
import re
import unicodedata
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import StreamingResponse

from gateway.accounts.deps import SessionDep
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.kit.errors import NotFound, PayloadTooLarge, PolicyDenied
from gateway.mail.read.rendering import redactions
from gateway.mail.read.resolvers import message_resource
from gateway.mail.store.repository import MessageStore
from gateway.mime.parse import ATTACHED_MESSAGES, attachment_name, is_attachment
from gateway.mime.parts import attachment_bytes, is_container
from gateway.mime.split import TOLERANT_POLICY
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of

MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024  # Gmail accepts messages up to 50 MB in total
CHUNK_BYTES = 64 * 1024
PART_ID = re.compile(r"\d{1,4}(\.\d{1,4}){0,15}")
_MIME_NAME = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
_CONTENT_TYPE = re.compile(rf"{_MIME_NAME}/{_MIME_NAME}")
_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]+')


def find_part(raw: bytes, part_id: str) -> tuple[EmailMessage, EmailMessage] | None:
    """(the message, the part `part_id` names) when that part is listed as an attachment
    (Gmail's numbering over multipart containers, as `gateway.mime.parts` walks it)."""
    if not PART_ID.fullmatch(part_id):
        return None
    msg = email.message_from_bytes(raw, policy=TOLERANT_POLICY)
    assert isinstance(msg, EmailMessage)
    part: EmailMessage = msg
    if not (part_id == "0" and not is_container(msg)):
        for index in (int(s) for s in part_id.split(".")):
            if not is_container(part):
                return None
            children = list(part.iter_parts())
            if index >= len(children):
                return None
            child = children[index]
            assert isinstance(child, EmailMessage)
            part = child
    if is_container(part) or not is_attachment(part):
        return None
    return msg, part


def safe_filename(name: str | None, fallback: str) -> tuple[str, str]:
    """(ASCII filename, UTF-8 filename) for Content-Disposition: no control characters, quotes,
    backslashes or path separators, no leading dots, bounded length."""
    cleaned = _UNSAFE_NAME_CHARS.sub("_", unicodedata.normalize("NFC", name or ""))
    cleaned = " ".join(cleaned.split()).lstrip(".").strip()[:150] or fallback
    ascii_name = "".join(unicodedata.normalize("NFKD", c).encode("ascii", "ignore").decode()
                         or "_" for c in cleaned)
    ascii_name = re.sub(r"[^A-Za-z0-9._ ()+,=@-]", "_", ascii_name).strip() or fallback
    return ascii_name, cleaned


def content_disposition(name: str | None, fallback: str) -> str:
    ascii_name, utf8_name = safe_filename(name, fallback)
    return (f'attachment; filename="{ascii_name}"; '
            f"filename*=UTF-8''{quote(utf8_name, safe='')}")


def _chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK_BYTES):
        yield bytes(view[start:start + CHUNK_BYTES])


def download_attachment(mailbox_id: str, message_id: str, part_id: str, request: Request,
                        session: SessionDep, access: AccessDep) -> StreamingResponse:
    redact = redactions(access)
    if "body" in redact:
        raise PolicyDenied(("content_redacted",),
                           detail="the decision withholds content from this caller")
    store: MessageStore = runtime_of(request).service(MessageStore)
    raw = store.raw_bytes(session, access, request.state.message)
    found = find_part(raw, part_id)
    if found is None:
        raise NotFound("this message has no such attachment", code="attachment_not_found")
    msg, part = found
    data = attachment_bytes(raw, msg, part_id, part)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise PayloadTooLarge(f"the attachment is larger than {MAX_ATTACHMENT_BYTES} bytes",
                              code="attachment_too_large",
                              extra={"size": len(data), "limit": MAX_ATTACHMENT_BYTES})
    content_type = part.get_content_type()
    if not _CONTENT_TYPE.fullmatch(content_type):
        content_type = "application/octet-stream"
    filename = None if "attachment_names" in redact else attachment_name(part)
    if filename is not None and part.get_content_type() in ATTACHED_MESSAGES \
            and not filename.lower().endswith(".eml"):
        filename += ".eml"
    return StreamingResponse(_chunks(data), media_type=content_type, headers={
        "Content-Length": str(len(data)),
        "Content-Disposition": content_disposition(filename, f"attachment-{part_id}"),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "private, no-store"})


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The attachment's decoded bytes, with its Content-Type, "
                         "Content-Length and a safe Content-Disposition filename"},
    403: {"description": "Denied by policy (problem+json)"},
    404: {"description": "No such mailbox/message/attachment for this caller (problem+json)"},
    413: {"description": "The attachment exceeds the download limit (problem+json)"}}


router = GuardedRouter(prefix="/v1", tags=["mailboxes"])
router.add("GET", "/mailboxes/{mailbox_id}/messages/{message_id}/attachments/{part_id}",
           download_attachment, action=Action.attachment_read,
           resource=message_resource("attachment"), response_class=StreamingResponse,
           responses=_RESPONSES, tags=["messages"], summary="Download an attachment",
           description="Streamed from the stored message (no Gmail call). Policy action "
                       "`mail.attachment.read`.")
