"""RFC 5322 / MIME parsing into the pieces the store keeps: headers, addresses, bodies,
attachment metadata. The raw bytes are kept too (sealed), so nothing is lost in parsing.

`parse_message` builds the message tree with `gateway.mail.mime_split` (the standard library's
tree without reading every line of every attachment) and falls back to the standard parser for
anything that module declines; `parse_message_reference` always uses the standard parser.
Both give the same `ParsedMessage` (tests/sync/test_parse_equivalence.py compares them)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

from gateway.mail.mime_headers import fast_addresses
from gateway.mail.mime_split import split_message

_SNIPPET_CHARS = 200


@dataclass(frozen=True)
class AttachmentInfo:
    part_id: str
    filename: str
    mime_type: str
    size: int


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

    def addresses(self) -> list[tuple[str, str]]:
        """(role, address) pairs for the blind index."""
        out: list[tuple[str, str]] = []
        for role, values in (("from", self.from_), ("to", self.to), ("cc", self.cc),
                             ("bcc", self.bcc)):
            out.extend((role, v) for v in values)
        return out


def _addresses(msg: EmailMessage, name: str) -> list[str]:
    values = [str(v) for v in msg.get_all(name, [])]
    if len(values) == 1 and (pairs := fast_addresses(values[0])) is not None:
        return [addr for _, addr in pairs]  # what getaddresses gives for the canonical form
    return [addr for _, addr in getaddresses(values) if addr]


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


def _walk(msg: EmailMessage, prefix: str = "") -> list[tuple[str, EmailMessage]]:
    parts: list[tuple[str, EmailMessage]] = [(prefix, msg)]
    if msg.is_multipart():
        for index, child in enumerate(msg.iter_parts()):
            child_id = f"{prefix}.{index}" if prefix else str(index)
            assert isinstance(child, EmailMessage)
            parts.extend(_walk(child, child_id))
    return parts


def _text_of(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def parse_message(raw: bytes) -> ParsedMessage:
    """The store's view of `raw` (fast path, same result as `parse_message_reference`)."""
    msg = split_message(raw)
    if msg is None:
        return parse_message_reference(raw)
    return _extract(msg)


def parse_message_reference(raw: bytes) -> ParsedMessage:
    """The store's view of `raw` through the standard library's feed parser."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return _extract(msg)


def _extract(msg: EmailMessage) -> ParsedMessage:
    text_parts: list[str] = []
    html_parts: list[str] = []
    attachments: list[AttachmentInfo] = []
    for part_id, part in _walk(msg):
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        ctype = part.get_content_type()
        if disposition == "attachment" or filename:
            size = _base64_size(part)
            if size is None:
                payload = part.get_payload(decode=True)
                size = len(payload) if isinstance(payload, bytes) else 0
            attachments.append(AttachmentInfo(part_id or "0", filename or "", ctype, size))
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
        except (TypeError, ValueError):
            date = None
    snippet_source = text or _strip_tags("\n".join(html_parts))
    return ParsedMessage(
        subject=str(msg.get("subject", "")), from_=_addresses(msg, "from"),
        to=_addresses(msg, "to"), cc=_addresses(msg, "cc"), bcc=_addresses(msg, "bcc"),
        reply_to=_addresses(msg, "reply-to"), date=date,
        message_id_header=str(msg.get("message-id", "")),
        headers=[(k, str(v)) for k, v in msg.items()], text=text,
        html="\n".join(html_parts), snippet=" ".join(snippet_source.split())[:_SNIPPET_CHARS],
        attachments=attachments)


def _strip_tags(html: str) -> str:
    out: list[str] = []
    inside = False
    for char in html:
        if char == "<":
            inside = True
        elif char == ">":
            inside = False
        elif not inside:
            out.append(char)
    return "".join(out)
