"""RFC 5322 / MIME parsing into the pieces the store keeps: headers, addresses, bodies,
attachment metadata. The raw bytes are kept too (sealed), so nothing is lost in parsing.

`parse_message` builds the message tree with `gateway.mime.split` (the standard library's
tree without reading every line of every attachment) and falls back to the standard parser for
anything that module declines; `parse_message_reference` always uses the standard parser.
Both give the same `ParsedMessage` (tests/mime/test_parse_equivalence.py compares them)."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime

from gateway.mime.headers import fast_addresses
from gateway.mime.parts import (
    REPORT_TYPES,
    attachment_bytes,
    is_container,
    report_fields,
    walk,
)
from gateway.mime.split import TOLERANT_POLICY, split_message
from gateway.mime.text import snippet, valid_text

_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")


@dataclass(frozen=True)
class AttachmentInfo:
    part_id: str
    filename: str
    mime_type: str
    size: int


@dataclass(frozen=True)
class ReportInfo:
    """The machine-readable part of a delivery report, a read receipt or a feedback report."""

    part_id: str
    mime_type: str
    fields: list[list[tuple[str, str]]]


@dataclass(frozen=True)
class ParsedMessage:
    subject: str
    from_: list[str]
    to: list[str]
    cc: list[str]
    bcc: list[str]
    reply_to: list[str]
    date: datetime | None
    message_id_header: str
    headers: list[tuple[str, str]]
    text: str
    html: str
    snippet: str
    attachments: list[AttachmentInfo] = field(default_factory=list)
    reports: list[ReportInfo] = field(default_factory=list)

    def addresses(self) -> list[tuple[str, str]]:
        """(role, address) pairs for the blind index."""
        out: list[tuple[str, str]] = []
        for role, values in (("from", self.from_), ("to", self.to), ("cc", self.cc),
                             ("bcc", self.bcc)):
            out.extend((role, v) for v in values)
        return out


def _addresses(msg: EmailMessage, name: str) -> list[str]:
    """The addresses (`local@domain`) of the header; a display name without an address, a
    group's name or a local part without a domain is not an address and is not listed."""
    values = [str(v) for v in msg.get_all(name, [])]
    if len(values) == 1 and (pairs := fast_addresses(values[0])) is not None:
        return [addr for _, addr in pairs]  # what getaddresses gives for the canonical form
    return [valid_text(addr) for _, addr in getaddresses(values) if _ADDRESS.fullmatch(addr)]


ATTACHED_MESSAGES = frozenset({"message/rfc822", "message/global"})
# Text parts of reports: the returned headers of a bounce, a feedback report's headers.
_REPORT_TEXT = frozenset({"text/rfc822-headers", "text/global-headers"})
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _base64_size(part: EmailMessage) -> int | None:
    """`len(part.get_payload(decode=True))` of a base64 part without decoding it, for a
    payload that is plain base64 (alphabet, CR/LF, final padding): the standard decode joins
    the lines and decodes strictly, which gives 3 bytes per 4 characters less the padding.
    None for anything else (the caller decodes)."""
    payload = part.get_payload()  # the stored string: what get_payload(decode=True) decodes
    if not isinstance(payload, str) or not payload.isascii():
        return None
    if str(part.get("content-transfer-encoding", "")).lower() != "base64":
        return None
    data = payload.encode("ascii")
    other = data.translate(None, _B64_ALPHABET)  # line ends, padding, anything else: small
    rest = other.translate(None, b"\r\n")  # what is neither alphabet nor line end
    length = len(data) - (len(other) - len(rest))  # the characters decode_b decodes
    if rest == b"":
        if length % 4 in (0, 2, 3):  # decode_b pads 2 and 3 with "==" / "="
            return length // 4 * 3 + (length % 4 and length % 4 - 1)
        return None
    if rest in (b"=", b"==") and length % 4 == 0 and data.rstrip(b"\r\n").endswith(rest):
        return length // 4 * 3 - len(rest)
    return None


def _text_of(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return valid_text(content) if isinstance(content, str) else ""


def parse_message(raw: bytes) -> ParsedMessage:
    """The store's view of `raw` (fast path, same result as `parse_message_reference`)."""
    msg = split_message(raw)
    if msg is None:
        return parse_message_reference(raw)
    return _extract(raw, msg)


def parse_message_reference(raw: bytes) -> ParsedMessage:
    """The store's view of `raw` through the standard library's feed parser."""
    msg = email.message_from_bytes(raw, policy=TOLERANT_POLICY)
    assert isinstance(msg, EmailMessage)
    return _extract(raw, msg)


def attachment_name(part: EmailMessage) -> str:
    """An attachment's name: its filename, or the subject of an attached message."""
    filename = part.get_filename()
    if filename:
        return valid_text(filename)
    if part.get_content_type() in ATTACHED_MESSAGES:
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return valid_text(str(inner[0].get("subject", "")))
    return ""


def is_attachment(part: EmailMessage) -> bool:
    return (part.get_content_disposition() == "attachment" or bool(part.get_filename())
            or part.get_content_maintype() == "message"
            or part.get_content_type() in _REPORT_TEXT)


def _extract(raw: bytes, msg: EmailMessage) -> ParsedMessage:
    text_parts: list[str] = []
    html_parts: list[str] = []
    attachments: list[AttachmentInfo] = []
    reports: list[ReportInfo] = []
    for part_id, part in walk(msg):
        if is_container(part):
            continue
        ctype = part.get_content_type()
        if ctype in REPORT_TYPES:
            data = attachment_bytes(raw, msg, part_id or "0", part)
            reports.append(ReportInfo(part_id or "0", ctype, [
                [(valid_text(k), valid_text(v)) for k, v in block]
                for block in report_fields(data)]))
            attachments.append(AttachmentInfo(part_id or "0", attachment_name(part), ctype,
                                              len(data)))
        elif is_attachment(part):
            size = _base64_size(part)
            if size is None:
                size = len(attachment_bytes(raw, msg, part_id or "0", part))
            attachments.append(AttachmentInfo(part_id or "0", attachment_name(part), ctype, size))
        elif ctype == "text/plain":
            text_parts.append(_text_of(part))
        elif ctype == "text/html":
            html_parts.append(_text_of(part))
    text = "\n".join(text_parts)
    date: datetime | None = None
    if msg["date"]:
        try:
            date = parsedate_to_datetime(str(msg["date"]))
            if date.tzinfo is None:
                date = date.replace(tzinfo=UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            date = None
    html = "\n".join(html_parts)
    return ParsedMessage(
        subject=valid_text(str(msg.get("subject", ""))), from_=_addresses(msg, "from"),
        to=_addresses(msg, "to"), cc=_addresses(msg, "cc"), bcc=_addresses(msg, "bcc"),
        reply_to=_addresses(msg, "reply-to"), date=date,
        message_id_header=valid_text(str(msg.get("message-id", ""))),
        headers=[(valid_text(k), valid_text(str(v))) for k, v in msg.items()], text=text,
        html=html, snippet=snippet(text, html), attachments=attachments, reports=reports)
