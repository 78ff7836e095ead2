"""Opaque keyset cursors: (internal_date, id) of the last item, base64url JSON."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from gateway.kit.errors import BadRequest


def encode_cursor(when: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([when.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        when, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(when), uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise BadRequest("the page cursor is not valid; start again without it",
                         code="invalid_cursor") from None
