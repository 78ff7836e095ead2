"""Byte-exact multipart splitting (uploads and batch requests) without re-encoding parts."""

from __future__ import annotations

import re
from email.parser import HeaderParser


def boundary_of(content_type: str) -> str | None:
    m = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type, re.I)
    if not m:
        return None
    return m.group(1) or m.group(2)


def split(body: bytes, boundary: str) -> list[bytes]:
    """Return each part's bytes (headers and content) exactly as sent.

    Per RFC 2046 the line break before a delimiter belongs to the delimiter; CRLF and bare LF
    are both accepted, since client libraries differ."""
    delim = b"--" + boundary.encode("latin-1")
    positions = [m.start() for m in re.finditer(
        rb"(?:^|(?<=\n))" + re.escape(delim), body)]
    parts: list[bytes] = []
    for i, start in enumerate(positions):
        line_end = body.find(b"\n", start)
        if body[start + len(delim): start + len(delim) + 2] == b"--":
            break
        if line_end < 0 or i + 1 >= len(positions):
            break
        content = body[line_end + 1: positions[i + 1]]
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        parts.append(content)
    return parts


def split_headers(part: bytes) -> tuple[dict[str, str], bytes]:
    """Split a part into lower-cased headers and its content."""
    m = re.search(rb"\r?\n\r?\n", part)
    if part.startswith((b"\r\n", b"\n")):
        head, content = b"", part[2 if part.startswith(b"\r\n") else 1:]
    elif m is None:
        head, content = part, b""
    else:
        head, content = part[: m.start()], part[m.end():]
    parsed = HeaderParser().parsestr(head.decode("latin-1") + "\n\n")
    return {k.lower(): v for k, v in parsed.items()}, content
