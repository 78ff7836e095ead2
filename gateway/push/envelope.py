"""Parsing Pub/Sub's push envelope and the Gmail notification inside it.

    {"message": {"data": "<base64 of {\"emailAddress\": \"...\", \"historyId\": 1234}>",
                 "messageId": "...", "publishTime": "...", "attributes": {...}},
     "subscription": "projects/P/subscriptions/S"}

Anything else is a `PushEnvelopeInvalid` (400 problem, never a 500). The problem never echoes
what was sent: the address is personal data.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from gateway.kit.errors import BadRequest

MAX_BODY_BYTES = 64 * 1024  # Gmail's notifications are ~200 bytes; Pub/Sub's envelope adds little
MAX_HISTORY_ID = 2**63 - 1


class PushEnvelopeInvalid(BadRequest):
    code = "push_envelope_invalid"
    title = "Not a Gmail push notification"


@dataclass(frozen=True)
class GmailNotification:
    email_address: str
    history_id: int
    message_id: str | None
    subscription: str | None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PushEnvelopeInvalid(f"{what} must be a JSON object")
    return value


def _optional_text(value: Any, limit: int = 256) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _history_id(value: Any) -> int:
    # Gmail sends a number; accept a decimal string too (JSON producers differ), never a bool.
    if isinstance(value, bool):
        raise PushEnvelopeInvalid("historyId must be a positive integer")
    if isinstance(value, str) and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int) or not 0 < value <= MAX_HISTORY_ID:
        raise PushEnvelopeInvalid("historyId must be a positive integer")
    return value


def parse_envelope(body: bytes) -> GmailNotification:
    if len(body) > MAX_BODY_BYTES:
        raise PushEnvelopeInvalid("the push body is too large for a Gmail notification")
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):
        raise PushEnvelopeInvalid("the push body is not JSON") from None
    envelope = _object(envelope, "the push body")
    message = _object(envelope.get("message"), "message")
    data = message.get("data")
    if not isinstance(data, str) or not data:
        raise PushEnvelopeInvalid("message.data is missing")
    try:
        decoded = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        try:  # Pub/Sub uses standard base64; be lenient with the URL-safe alphabet
            decoded = base64.urlsafe_b64decode(data.strip() + "=" * (-len(data.strip()) % 4))
        except (binascii.Error, ValueError):
            raise PushEnvelopeInvalid("message.data is not base64") from None
    try:
        notification = json.loads(decoded.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise PushEnvelopeInvalid("message.data is not a JSON Gmail notification") from None
    notification = _object(notification, "message.data")
    address = notification.get("emailAddress")
    if not isinstance(address, str) or "@" not in address or len(address) > 320:
        raise PushEnvelopeInvalid("message.data has no emailAddress")
    return GmailNotification(
        email_address=address,
        history_id=_history_id(notification.get("historyId")),
        message_id=_optional_text(message.get("messageId") or message.get("message_id"), 64),
        subscription=_optional_text(envelope.get("subscription")),
    )
