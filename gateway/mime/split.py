"""A fast MIME tree builder that produces the same `EmailMessage` tree the standard library's
feed parser builds (policy `email.policy.default`) for well-formed messages, and says so when it
cannot promise that (the caller then uses the standard parser).

Why: the feed parser reads every line of every part, base64 attachments included — ~4 ms for an
average 160 KB message, most of the time the sync spends on a message. Here the part boundaries
are found with one C-level regular-expression scan per multipart, and only each part's *header
block* goes through the standard parser (`BytesParser(...).parsebytes(headersonly=True)`, which
runs the very same header code). Payloads are set as the same surrogate-escaped strings the feed
parser would store, so `get_payload(decode=True)`, `get_content()`, `get_filename()` and friends
behave identically: they are the same methods on the same data.

What is reproduced from `email.feedparser.FeedParser._parsegen` (Python 3.11 to 3.13):
- the header block ends at the first line that is not a header or continuation line
  (`headerRE`); an empty line there is consumed, any other line starts the body;
- a multipart's boundary lines match `--boundary(--)?[ \\t]*` up to the line end; the first
  starts the parts (the preamble is dropped), each next one ends a part, the `--` one closes it;
- the line ending before a boundary belongs to the boundary, not to the part's payload.
Lines end with CRLF or LF, as for the feed parser. Declined (None, the caller falls back): a
bare CR where it would end a line that matters (in a header block or the line ending it, just
before a boundary separator, or ending a boundary line; elsewhere in a body the feed parser
joins the lines back to the same bytes, so the whole message is not scanned), a "From "
line, any message/* part, multipart/digest, a multipart without boundary, without start or
close boundary, or with adjacent boundary lines, a multipart whose Content-Transfer-Encoding
is not an identity encoding, more than `MAX_PARTS` parts or `MAX_DEPTH` levels.

`TOLERANT_POLICY` is `email.policy.default` that does not raise where the header registry's
parser fails on a malformed value (the value is then a plain string, encoded words decoded).
`FAST_POLICY` is `TOLERANT_POLICY` whose header objects are memoised per (name, value) —
header objects are immutable, so a cached one is indistinguishable from a new one — and whose
unstructured headers without encoded words or non-ASCII bytes are returned as plain strings
(`get_unstructured` of such a value is the value itself), as are structured headers written in
the canonical form the registry would print (`gateway.mime.headers`). The tree is only
read through `str()` of headers and the string-based `Message` accessors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from functools import lru_cache
from typing import Any

from gateway.mime.headers import fast_value

MAX_PARTS = 200
MAX_DEPTH = 8
_CACHE_VALUE_CHARS = 2000

_LINESEP = re.compile(r"\n|\r")
_HEADER_LINE = re.compile(rb"(?:[\041-\071\073-\176]*:|[\t ])")  # feedparser.headerRE
_IDENTITY_CTE = ("7bit", "8bit", "binary")
# What follows the separator on a boundary line (one pattern for every boundary: compiling a
# pattern per boundary cost more than the rest of the split), and a boundary line that the feed
# parser would see ended by a bare CR.
_BOUNDARY_TAIL = re.compile(rb"(--)?[ \t]*\r?(?:\n|\Z)")
_BARE_CR_TAIL = re.compile(rb"(--)?[ \t]*\r(?!\n)")


# What the header registry's parsers raise on some malformed values (an address ending in "@",
# CR or LF in an address part, ...) instead of recording a defect.
_PARSER_FAILURES = (HeaderParseError, IndexError, ValueError, TypeError, AttributeError,
                    LookupError, AssertionError)


def _tolerant(factory: Callable[[str, str], Any], name: str, value: str) -> Any:
    """The registry's header object, or, where its parser fails, the value with its encoded
    words decoded as far as they decode, as a plain string."""
    try:
        return factory(name, value)
    except _PARSER_FAILURES:
        try:
            return str(make_header(decode_header(value)))
        except _PARSER_FAILURES:
            return value


class TolerantPolicy(EmailPolicy):
    """`email.policy.default` that never raises on reading a header (`_tolerant`)."""

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name"):
            return value
        return _tolerant(self.header_factory, name, "".join(_LINESEP.split(value)))


TOLERANT_POLICY = TolerantPolicy()


class _CachingPolicy(TolerantPolicy):
    """`TOLERANT_POLICY` with memoised header objects (see the module docstring)."""

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name"):
            return value
        value = "".join(_LINESEP.split(value))
        if len(value) > _CACHE_VALUE_CHARS:
            return _tolerant(self.header_factory, name, value)
        return _header(self.header_factory, name, value)


@lru_cache(maxsize=8192)
def _header(factory: HeaderRegistry, name: str, value: str) -> Any:
    if value.isascii() and "=?" not in value:
        cls = factory.registry.get(name.lower(), factory.default_class)
        if issubclass(cls, UnstructuredHeader):
            return value  # str(get_unstructured(value)) == value; nothing to sanitise
    fast = fast_value(name, value)  # a structured header already in canonical form
    return fast if fast is not None else _tolerant(factory, name, value)


FAST_POLICY = _CachingPolicy()
_HEADERS = BytesParser(_class=EmailMessage, policy=FAST_POLICY)


def _header_block(block: bytes) -> EmailMessage:
    """The message the feed parser builds from a header block (every line a header or a
    continuation line, as `_Splitter._head` found them, no bare CR): each header's lines through
    `policy.header_source_parse` into `set_raw`, exactly as `FeedParser._parse_headers` does,
    without the feed parser's line buffering. A block starting with a continuation line or
    holding a line with an empty name (defects the feed parser records and skips) goes to the
    feed parser itself."""
    pieces = block.decode("ascii", "surrogateescape").split("\n")
    last = pieces.pop()  # "" when the block ends with a line end
    lines = [piece + "\n" for piece in pieces]
    if last:
        lines.append(last)
    msg = EmailMessage(policy=FAST_POLICY)
    current: list[str] = []
    for line in lines:
        if line[0] in " \t":
            if not current:
                return _feed_parsed(block)
            current.append(line)
            continue
        if line[0] == ":":
            return _feed_parsed(block)
        if current:
            msg.set_raw(*FAST_POLICY.header_source_parse(current))
        current = [line]
    if current:
        msg.set_raw(*FAST_POLICY.header_source_parse(current))
    return msg


def _feed_parsed(block: bytes) -> EmailMessage:
    msg = _HEADERS.parsebytes(block, headersonly=True)
    assert isinstance(msg, EmailMessage)
    return msg


class Declined(Exception):
    """This message needs the standard parser to get exactly the standard tree."""


def split_message(raw: bytes) -> EmailMessage | None:
    """The `EmailMessage` tree `message_from_bytes(raw, policy=default)` would build, or None
    when this message is outside what is reproduced exactly."""
    if raw.startswith(b"From "):
        return None
    try:
        return _Splitter(raw).part(0, len(raw), 0, top=True)
    except Declined:
        return None


class _Splitter:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.parts = 0

    def _head(self, start: int, end: int) -> tuple[int, int]:
        """(end of the header lines, start of the body) within raw[start:end]."""
        raw = self.raw
        pos = start
        while pos < end:
            stop = raw.find(b"\n", pos, end)
            line_end = end if stop < 0 else stop + 1
            if raw[pos:pos + 1] == b"\n" or raw[pos:pos + 2] == b"\r\n":
                self._no_bare_cr(start, line_end)
                return pos, line_end  # the empty separator line: consumed
            if not _HEADER_LINE.match(raw, pos, line_end):
                if raw.startswith(b"From ", pos):
                    raise Declined()
                self._no_bare_cr(start, line_end)
                return pos, pos  # a body line without separator: it stays in the body
            pos = line_end
        self._no_bare_cr(start, end)
        return end, end

    def _no_bare_cr(self, start: int, end: int) -> None:
        """A bare CR ends a line for the feed parser, not here: decline header blocks (and the
        line that ends them) holding one. In bodies only boundary lines depend on line ends,
        and `_multipart` declines a bare CR before or at the end of a boundary line."""
        chunk = self.raw[start:end]
        if chunk.count(b"\r") != chunk.count(b"\r\n"):
            raise Declined()

    def part(self, start: int, end: int, depth: int, *, top: bool = False) -> EmailMessage:
        self.parts += 1
        if self.parts > MAX_PARTS or depth > MAX_DEPTH:
            raise Declined()
        head_end, body_start = self._head(start, end)
        msg = _header_block(self.raw[start:head_end])
        maintype = msg.get_content_maintype()
        if maintype == "message" or msg.get_content_type() == "multipart/digest":
            raise Declined()
        if maintype != "multipart":
            stop = end
            if not top:  # the line ending before a boundary belongs to the boundary
                if end - body_start >= 2 and self.raw[end - 2:end] == b"\r\n":
                    stop = end - 2
                elif end > body_start and self.raw[end - 1] == 0x0A:
                    stop = end - 1
            msg.set_payload(self.raw[body_start:stop].decode("ascii", "surrogateescape"))
            return msg
        boundary = msg.get_boundary()
        cte = str(msg.get("content-transfer-encoding", "8bit")).lower()
        if boundary is None or cte not in _IDENTITY_CTE:
            raise Declined()
        self._multipart(msg, boundary, body_start, end, depth)
        return msg

    def _multipart(self, msg: EmailMessage, boundary: str, start: int, end: int,
                   depth: int) -> None:
        try:
            separator = ("--" + boundary).encode("ascii", "surrogateescape")
        except UnicodeEncodeError:
            raise Declined() from None
        after = len(separator)
        raw = self.raw
        parts: list[Message[str, str] | str] = []
        opened: int | None = None  # where the current part starts
        at = raw.find(separator, start, end)
        while at >= 0:
            # A boundary line starts a line and is the separator, "--", blanks, line end.
            if at > start and raw[at - 1] == 0x0D:
                raise Declined()  # after a bare CR: a line start for the feed parser
            match = (_BOUNDARY_TAIL.match(raw, at + after, end)
                     if at == start or raw[at - 1] == 0x0A else None)
            if match is None and _BARE_CR_TAIL.match(raw, at + after, end):
                raise Declined()  # a boundary line ended by a bare CR for the feed parser
            if match is None:
                at = raw.find(separator, at + 1, end)
                continue
            if opened is not None:
                if at == opened:
                    raise Declined()  # adjacent boundary lines: the feed parser skips them
                parts.append(self.part(opened, at, depth + 1))
            if match.group(1):
                if opened is None:
                    raise Declined()  # a close boundary before any part
                msg.set_payload(parts)  # what the feed parser's attach() calls build
                return
            opened = match.end()
            at = raw.find(separator, opened, end)
        raise Declined()  # no start or no close boundary
