"""RFC 5322 / MIME parsing into Gmail's ``MessagePart`` trees, with the stdlib ``email`` package.

The original bytes are never rewritten: ``format=raw`` serves them as stored. The part tree is
derived from them the way Gmail presents it:

* partIds: the root is ``""``, its children ``"0"``, ``"1"``..., grandchildren ``"1.0"``...;
* ``headers`` keep the order and names of the message, values unfolded and RFC 2047-decoded;
* multipart containers have ``body: {"size": 0}``; leaves carry the transfer-decoded bytes in
  ``body.data`` (base64url) with ``body.size``, or, for attachments (a filename, a non-text
  leaf, or a body above the inline threshold), an ``attachmentId`` fetched separately.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.errors
import email.header
import email.parser
import email.utils
import html
import quopri
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from .keys import b64url, b64url_decode

INLINE_LIMIT_DEFAULT = 512 * 1024
SNIPPET_LENGTH = 200


def b64url_padded(data: bytes) -> str:
    """Gmail's ``byte`` fields: URL-safe base64 with padding."""
    return base64.urlsafe_b64encode(data).decode("ascii")


def decode_b64_any(text: str) -> bytes:
    """Decode base64 as Google accepts it: URL-safe or standard alphabet, padding optional."""
    cleaned = re.sub(r"\s+", "", text).replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return b64url_decode(cleaned)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("invalid base64") from exc


def unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value)


_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(value: str) -> str:
    """Valid Unicode, as Google serves it: undecodable bytes the parser kept as surrogate
    escapes are decoded as UTF-8 (U+FFFD where they are not UTF-8), any other surrogate (a
    UTF-7 text can decode to a lone one) is U+FFFD."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = _ESCAPED_BYTES.sub(
            lambda m: bytes(ord(c) - 0xDC00 for c in m.group()).decode("utf-8", "replace"),
            value)
        return _SURROGATE.sub("\ufffd", value)
    return value


def decode_header_value(value: str) -> str:
    value = valid_text(unfold(value))
    if "=?" not in value:
        return value
    try:
        return valid_text(str(email.header.make_header(email.header.decode_header(value))))
    except (ValueError, LookupError, UnicodeDecodeError, email.errors.HeaderParseError):
        return value


@dataclass
class Attachment:
    attachment_id: str
    data: bytes


@dataclass
class Head:
    """The top-level headers only: cheap to get, enough for threading and header searches."""

    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def headers_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]


@dataclass
class ParsedMessage(Head):
    """What Gmail derives from a message's bytes; computed once per stored message."""

    payload: dict[str, Any] = field(default_factory=dict)
    snippet: str = ""
    text: str = ""
    attachments: dict[str, Attachment] = field(default_factory=dict)
    filenames: list[str] = field(default_factory=list)


def parse_head(raw: bytes) -> Head:
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        head_end = raw.find(b"\n\n")
    chunk = raw if head_end < 0 else raw[: head_end + 2]
    msg = email.parser.BytesHeaderParser().parsebytes(chunk)
    return Head([(k, decode_header_value(str(v))) for k, v in msg.raw_items()])


_HEADER_LINE = re.compile(rb"(?:From |[\041-\071\073-\176]*:|[\t ])")
Span = tuple[int, int] | None  # where a part is in the raw message, when that is known


def _body_start(raw: bytes, start: int, end: int) -> int:
    pos = start
    while pos < end:
        stop = raw.find(b"\n", pos, end)
        line_end = end if stop < 0 else stop + 1
        if raw[pos:line_end] in (b"\n", b"\r\n"):
            return line_end
        if not _HEADER_LINE.match(raw, pos, line_end):
            return pos
        pos = line_end
    return end


def _child_spans(raw: bytes, span: Span, part: Message, count: int) -> list[Span]:
    """Where a multipart's children are (the line end before a boundary line belongs to it),
    or unknown spans when that does not give the parsed number of children."""
    boundary = part.get_boundary()
    if span is None or not boundary:
        return [None] * count
    start, end = _body_start(raw, *span), span[1]
    line = re.compile(rb"(?m)^" + re.escape(b"--" + boundary.encode("latin-1", "replace")) +
                      rb"(--)?[ \t]*\r?$")
    spans: list[Span] = []
    opened: int | None = None
    for match in line.finditer(raw, start, end):
        at = match.start()
        if opened is not None:
            cut = 2 if raw[at - 2:at] == b"\r\n" else 1 if raw[at - 1:at] == b"\n" else 0
            spans.append((opened, max(opened, at - cut)))
        if match.group(1):
            opened = None
            break
        opened = match.end() + (2 if raw[match.end():match.end() + 2] == b"\r\n" else 1)
    if opened is not None:
        spans.append((opened, end))
    return spans if len(spans) == count else [None] * count


def _message_bytes(raw: bytes, span: Span, part: Message) -> bytes:
    """An attached message or report: its bytes as they are in the message."""
    if span is not None:
        body = raw[_body_start(raw, *span):span[1]]
        cte = str(part.get("content-transfer-encoding", "")).strip().lower()
        if cte == "base64":
            try:
                return base64.b64decode(body)
            except (binascii.Error, ValueError):
                return body
        return quopri.decodestring(body) if cte == "quoted-printable" else body
    inner = part.get_payload()
    if isinstance(inner, list):
        return b"\r\n".join(m.as_bytes() for m in inner if isinstance(m, Message))
    return b""


def _leaf_bytes(part: Message, raw: bytes, span: Span) -> bytes:
    if part.get_content_maintype() == "message" or part.is_multipart():
        return _message_bytes(raw, span, part)
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""


def _text_of(part: Message, data: bytes) -> str:
    charset = part.get_content_charset() or "us-ascii"
    try:
        return valid_text(data.decode(charset, errors="replace"))
    except LookupError:
        return data.decode("utf-8", errors="replace")


_TAG = re.compile(r"<[^>]*>")
_STYLE = re.compile(r"<(style|script)[^>]*>.*?</\1>", re.S | re.I)


def html_to_text(markup: str) -> str:
    return html.unescape(_TAG.sub(" ", _STYLE.sub(" ", markup)))


def make_snippet(text: str) -> str:
    collapsed = " ".join(text.split())[:SNIPPET_LENGTH]
    return (collapsed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def attachment_id_for(message_id: str, part_id: str) -> str:
    return "ANGjdJ" + b64url(f"{message_id}:{part_id}".encode())


def parse_attachment_id(attachment_id: str) -> tuple[str, str] | None:
    if not attachment_id.startswith("ANGjdJ"):
        return None
    try:
        message_id, part_id = b64url_decode(attachment_id[6:]).decode().split(":", 1)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return None
    return message_id, part_id


def parse_message(
    raw: bytes, message_id: str, *, inline_limit: int = INLINE_LIMIT_DEFAULT
) -> ParsedMessage:
    msg = email.message_from_bytes(raw)
    texts: list[tuple[str, str]] = []
    attachments: dict[str, Attachment] = {}
    filenames: list[str] = []

    def build(part: Message, part_id: str, span: Span) -> dict[str, Any]:
        headers = [{"name": k, "value": decode_header_value(str(v))}
                   for k, v in part.raw_items()]
        filename = ""
        try:
            filename = decode_header_value(part.get_filename() or "")  # RFC 2047 too
        except (ValueError, LookupError):
            filename = ""
        node: dict[str, Any] = {
            "partId": part_id,
            "mimeType": part.get_content_type(),
            "filename": filename,
            "headers": headers,
        }
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            node["body"] = {"size": 0}
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            prefix = f"{part_id}." if part_id else ""
            spans = _child_spans(raw, span, part, len(children))
            node["parts"] = [build(child, f"{prefix}{i}", spans[i])
                             for i, child in enumerate(children)]
            return node
        data = _leaf_bytes(part, raw, span)
        mime = part.get_content_type()
        is_text = part.get_content_maintype() == "text"
        if filename:
            filenames.append(filename)
        if filename or not is_text or len(data) > inline_limit:
            att_id = attachment_id_for(message_id, part_id)
            attachments[att_id] = Attachment(att_id, data)
            node["body"] = {"attachmentId": att_id, "size": len(data)}
        else:
            node["body"] = {"size": len(data)}
            if data:
                node["body"]["data"] = b64url_padded(data)
        if is_text and not filename and mime in ("text/plain", "text/html"):
            texts.append((mime, _text_of(part, data)))
        return node

    payload = build(msg, "", (0, len(raw)))
    plain = "\n".join(t for m, t in texts if m == "text/plain")
    text = plain if plain.strip() else "\n".join(html_to_text(t) for m, t in texts
                                                if m == "text/html")
    headers = [(k, decode_header_value(str(v))) for k, v in msg.raw_items()]
    return ParsedMessage(
        payload=payload,
        headers=headers,
        snippet=make_snippet(text),
        text=text,
        attachments=attachments,
        filenames=filenames,
    )


def parse_date_ms(value: str | None) -> int | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        return None
    return int(parsed.timestamp() * 1000)


def addresses(values: list[str]) -> list[str]:
    return [addr.lower() for _name, addr in email.utils.getaddresses(values) if addr]


def message_ids(value: str | None) -> list[str]:
    if not value:
        return []
    return re.findall(r"<[^<>\s]+>", value)


_SUBJECT_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|vs|antw|wg|tr|rif)\s*(\[\d+\])?\s*:\s*)+",
                             re.I)


def normalise_subject(subject: str | None) -> str:
    if not subject:
        return ""
    return " ".join(_SUBJECT_PREFIX.sub("", subject).split()).lower()
