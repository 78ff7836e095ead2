"""The parts of a message as the API lists them, and the bytes of attachments.

Containers are `multipart/*` parts; everything else is a leaf, `message/*` parts included: an
attached message (`message/rfc822`, `message/global`), a delivery report
(`message/delivery-status`, `message/global-delivery-status`), a read receipt
(`message/disposition-notification`), a feedback report... are attachments of the message
that carries them, never merged into its body. Part ids are Gmail's `partId` numbering over
the containers (`0`, `1`, `1.0`...; `0` is the body of a message that is not multipart).

The standard library parses a `message/*` part into message objects and keeps no bytes, so the
bytes of such a part are taken from the raw message: the part's body between its boundaries,
found by position (the feed parser's rules: a boundary line is `--boundary`, optionally `--`,
blanks, the line end; the line end before it belongs to it), and checked against the parsed
tree (same content types along the path). Where the two disagree (a malformed message), the
attached message is generated again from the parsed tree, its header lines as they were.
A `Content-Transfer-Encoding` of base64 or quoted-printable on such a part is decoded.
"""

from __future__ import annotations

import binascii
import email.generator
import email.policy
import io
import quopri
import re
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser

from gateway.mime.split import TOLERANT_POLICY

_HEADER_LINE = re.compile(rb"(?:From |[\041-\071\073-\176]*:|[\t ])")  # feedparser.headerRE
_HEADERS = BytesHeaderParser(policy=TOLERANT_POLICY)
_AS_WRITTEN = TOLERANT_POLICY.clone(refold_source="none", max_line_length=0)


def is_container(part: Message) -> bool:
    return part.is_multipart() and part.get_content_maintype() != "message"


def walk(msg: EmailMessage, prefix: str = "") -> list[tuple[str, EmailMessage]]:
    """(part id, part) of every part, containers first, in Gmail's numbering."""
    parts: list[tuple[str, EmailMessage]] = [(prefix, msg)]
    if is_container(msg):
        for index, child in enumerate(msg.iter_parts()):
            assert isinstance(child, EmailMessage)
            parts.extend(walk(child, f"{prefix}.{index}" if prefix else str(index)))
    return parts


def _head(raw: bytes, start: int, end: int) -> tuple[int, int]:
    """(end of the header block, start of the body) of the part in raw[start:end]."""
    pos = start
    while pos < end:
        stop = raw.find(b"\n", pos, end)
        line_end = end if stop < 0 else stop + 1
        if raw[pos:line_end] in (b"\n", b"\r\n"):
            return pos, line_end
        if not _HEADER_LINE.match(raw, pos, line_end):
            return pos, pos
        pos = line_end
    return end, end


def _children(raw: bytes, start: int, end: int, boundary: str) -> list[tuple[int, int]]:
    try:
        separator = re.escape(("--" + boundary).encode("ascii", "surrogateescape"))
    except UnicodeEncodeError:
        return []
    line = re.compile(rb"(?m)^" + separator + rb"(--)?[ \t]*\r?$")
    out: list[tuple[int, int]] = []
    opened: int | None = None
    for match in line.finditer(raw, start, end):
        at = match.start()
        if opened is not None:
            stop = at - 2 if raw[at - 2:at] == b"\r\n" else at - 1 if raw[at - 1:at] == b"\n" \
                else at
            out.append((opened, max(opened, stop)))
        if match.group(1):
            return out
        opened = match.end() + (2 if raw[match.end():match.end() + 2] == b"\r\n" else 1)
    if opened is not None and opened <= end:
        out.append((opened, end))
    return out


def _located_body(raw: bytes, root: Message, part_id: str) -> bytes | None:
    """The body bytes of part `part_id` found by position, None where the positions do not
    agree with the parsed tree."""
    start, end = 0, len(raw)
    node = root
    path = [] if part_id == "0" and not is_container(root) else part_id.split(".")
    for step in path:
        if not is_container(node):
            return None
        body_start = _head(raw, start, end)[1]
        boundary = node.get_boundary()
        children = _children(raw, body_start, end, boundary) if boundary else []
        parsed = node.get_payload()
        index = int(step)
        if not isinstance(parsed, list) or len(children) != len(parsed) \
                or index >= len(children):
            return None
        start, end = children[index]
        child = parsed[index]
        if not isinstance(child, Message):
            return None
        node = child
        head = _HEADERS.parsebytes(raw[start:_head(raw, start, end)[0]])
        if "content-type" in head and head.get_content_type() != node.get_content_type():
            return None  # (without one, the type is the container's default: digest parts)
    return raw[_head(raw, start, end)[1]:end]


def _regenerated(part: Message) -> bytes:
    inner = part.get_payload()
    messages = inner if isinstance(inner, list) else []
    out = io.BytesIO()
    for index, message in enumerate(messages):
        if index:
            out.write(b"\r\n")
        generator = email.generator.BytesGenerator(out, mangle_from_=False, policy=_AS_WRITTEN)
        generator.flatten(message, linesep="\r\n")
    return out.getvalue()


def message_part_bytes(raw: bytes, root: Message, part_id: str, part: Message) -> bytes:
    """The bytes of the `message/*` part `part_id` of `root` (parsed from `raw`)."""
    body = _located_body(raw, root, part_id)
    if body is None:
        return _regenerated(part)
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:
            return body
    if cte == "quoted-printable":
        return quopri.decodestring(body)
    return body


def attachment_bytes(raw: bytes, root: Message, part_id: str, part: Message) -> bytes:
    """The decoded bytes of the attachment `part_id`, as the download serves them."""
    if part.get_content_maintype() == "message":
        return message_part_bytes(raw, root, part_id, part)
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


REPORT_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status",
                          "message/disposition-notification",
                          "message/global-disposition-notification",
                          "message/feedback-report"})
_BLANK_LINE = re.compile(rb"\r?\n(?:[ \t]*\r?\n)+")


def report_fields(data: bytes) -> list[list[tuple[str, str]]]:
    """The field blocks of a report part's bytes (RFC 3464 / 8098 / 5965: blocks of header-like
    fields separated by blank lines; the first is about the message, the others about each
    recipient), each a list of (name, value) in order, values unfolded."""
    blocks: list[list[tuple[str, str]]] = []
    for block in _BLANK_LINE.split(data.strip(b"\r\n")):
        if not block.strip():
            continue
        fields = _HEADERS.parsebytes(block + b"\n")
        items = [(name, str(value)) for name, value in fields.items()]
        if items:
            blocks.append(items)
    return blocks
