"""Opaque keyset cursors: the sort key of the last item served, base64url JSON, tagged with the
listing it belongs to (so a thread cursor handed to the message list is refused, not misread).

Keyset rather than offset: a page costs the same at the millionth message, and mail arriving
while the CRM pages does not shift items between pages. A cursor the gateway did not issue (or
one from another listing) is a 400 problem `invalid_cursor`, never a 500."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from gateway.kit.errors import BadRequest
from gateway.kit.ids import GMAIL_ID
from gateway.kit.timeutil import utc_text

MAX_CURSOR_CHARS = 400


def _invalid() -> BadRequest:
    return BadRequest("the page cursor is not valid; start again without it",
                      code="invalid_cursor")


def encode_key(kind: str, when: datetime, key: str) -> str:
    raw = json.dumps([kind, utc_text(when), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_key(kind: str, cursor: str) -> tuple[datetime, str]:
    """(when, key) of a cursor issued by `encode_key(kind, ...)`; BadRequest otherwise."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise _invalid()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise _invalid() from None
    if (not isinstance(value, list) or len(value) != 3 or value[0] != kind
            or not all(isinstance(v, str) for v in value)):
        raise _invalid()
    try:
        when = datetime.fromisoformat(value[1])
    except ValueError:
        raise _invalid() from None
    if when.tzinfo is None or not GMAIL_ID.fullmatch(value[2]):
        raise _invalid()
    return when, value[2]


def encode_cursor(when: datetime, row_id: uuid.UUID, kind: str = "messages") -> str:
    return encode_key(kind, when, str(row_id))


def decode_cursor(cursor: str, kind: str = "messages") -> tuple[datetime, uuid.UUID]:
    when, key = decode_key(kind, cursor)
    try:
        return when, uuid.UUID(key)
    except ValueError:
        raise _invalid() from None
