"""Build the RFC 5322 message for a send or a draft, with the stdlib `email` package.

The CRM sends JSON (recipients, subject, bodies, attachments); the gateway alone writes the
MIME: `EmailMessage` under `email.policy.SMTP` (CRLF line endings, RFC 2047 encoded words for
non-ASCII headers, folded long lines). Header injection is impossible by construction: every
header value is checked for control characters here (again — the request models check first),
addresses go through `email.headerregistry.Address`, and `email` itself refuses CR/LF in a
header value. `From` is never set by the caller: Gmail writes the mailbox's own address.

Size limits are enforced while decoding (an attachment is refused before its base64 is decoded
when its encoded length alone is over the limit) and on the finished message: 413.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from gateway.kit.errors import PayloadTooLarge, ValidationFailed
from gateway.mail.write.schemas import (
    AttachmentIn,
    ComposeIn,
    Recipient,
    addr_spec,
    file_name,
    has_forbidden_char,
    mime_type,
)


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int
    max_attachment_bytes: int


@dataclass(frozen=True)
class ReplyContext:
    """What a reply needs from the message it answers (headers only, never its content)."""

    thread_id: str
    message_id_header: str
    references: str


@dataclass(frozen=True)
class Composed:
    raw: bytes
    message_id_header: str
    thread_id: str | None


def _invalid(field: str, why: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {why}", code="invalid_message",
                            extra={"errors": [{"location": ["body", field], "message": why,
                                               "type": "value_error"}]})


def _address(recipient: Recipient, field: str) -> Address:
    try:
        spec = addr_spec(recipient.email)
        name = recipient.name or ""
        if has_forbidden_char(name):
            raise ValueError("control characters are not allowed in a name")
        username, domain = spec.rsplit("@", 1)
        return Address(display_name=name, username=username, domain=domain)
    except ValueError as exc:
        raise _invalid(field, str(exc)) from None


def _decode(attachment: AttachmentIn, index: int, limit: int) -> bytes:
    data = "".join(attachment.data.split())  # tolerate line-wrapped base64
    if len(data) // 4 * 3 > limit + 3:
        raise _too_large_attachment(index, limit)
    try:
        standard = data.replace("-", "+").replace("_", "/")  # accept the URL-safe alphabet
        decoded = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"attachments.{index}.data", "not valid base64") from None
    if len(decoded) > limit:
        raise _too_large_attachment(index, limit)
    return decoded


def _too_large_attachment(index: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"attachment {index} is larger than {limit} bytes",
                           code="attachment_too_large",
                           extra={"limit_bytes": limit, "attachment_index": index})


def _references(reply: ReplyContext) -> str:
    ids = reply.references.split() if reply.references else []
    if reply.message_id_header and reply.message_id_header not in ids:
        ids.append(reply.message_id_header)
    return " ".join(ids[-20:])  # bounded, newest kept (RFC 5322 allows trimming the middle)


def build_message(compose: ComposeIn, limits: Limits, *, msgid_domain: str,
                  reply: ReplyContext | None = None, message_id: str | None = None
                  ) -> Composed:
    """The message's bytes (CRLF), ready for Gmail's `raw`. Raises 422/413 problems.
    `message_id` (ours, never the caller's) fixes the Message-ID, e.g. for an idempotent send."""
    message = EmailMessage(policy=policy.SMTP)
    for field in ("to", "cc", "bcc"):
        recipients = getattr(compose, field)
        if recipients:
            message[field.capitalize()] = [_address(r, field) for r in recipients]
    if has_forbidden_char(compose.subject):
        raise _invalid("subject", "control characters and line breaks are not allowed")
    message["Subject"] = compose.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message_id = message_id or make_msgid(domain=msgid_domain)
    message["Message-ID"] = message_id
    if reply is not None and reply.message_id_header:
        if has_forbidden_char(reply.message_id_header + reply.references):
            raise _invalid("reply_to_message_id", "the replied message has malformed headers")
        message["In-Reply-To"] = reply.message_id_header
        message["References"] = _references(reply)
    _set_bodies(message, compose.text, compose.html)
    total = 0
    for index, attachment in enumerate(compose.attachments):
        try:
            name = file_name(attachment.filename)
            maintype, subtype = mime_type(attachment.content_type).split("/", 1)
        except ValueError as exc:
            raise _invalid(f"attachments.{index}", str(exc)) from None
        data = _decode(attachment, index, limits.max_attachment_bytes)
        total += len(data)
        if total > limits.max_message_bytes:
            raise _too_large_message(limits.max_message_bytes)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    try:
        raw = message.as_bytes()
    except (ValueError, TypeError) as exc:  # email's own header checks: never a 500
        raise _invalid("message", f"cannot be encoded: {type(exc).__name__}") from None
    if len(raw) > limits.max_message_bytes:
        raise _too_large_message(limits.max_message_bytes)
    return Composed(raw=raw, message_id_header=message_id,
                    thread_id=reply.thread_id if reply is not None else None)


def _set_bodies(message: EmailMessage, text: str | None, html: str | None) -> None:
    if text is None and html is None:
        text = ""
    try:
        if text is not None:
            message.set_content(text, subtype="plain", cte="quoted-printable")
            if html is not None:
                message.add_alternative(html, subtype="html", cte="quoted-printable")
        elif html is not None:
            message.set_content(html, subtype="html", cte="quoted-printable")
    except (ValueError, TypeError):  # e.g. lone surrogates: never a 500
        raise _invalid("text", "the body cannot be encoded as UTF-8") from None


def _too_large_message(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the message would be larger than {limit} bytes",
                           code="message_too_large", extra={"limit_bytes": limit})


def gmail_raw(raw: bytes) -> str:
    """Gmail's `raw`: base64url of the RFC 5322 bytes."""
    return base64.urlsafe_b64encode(raw).decode("ascii")
