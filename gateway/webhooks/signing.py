"""The signature on every delivery: `Gateway-Signature: t=<unix seconds>,v1=<hex>` where the hex
is HMAC-SHA256(secret, f"{t}.".encode() + body). Binding the timestamp into the MAC lets a
receiver refuse replays older than a few minutes; `verify` is what a receiver runs (docs/webhooks.md
shows the same in a few lines without this package)."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Gateway-Signature"
EVENT_ID_HEADER = "Gateway-Event-Id"
EVENT_TYPE_HEADER = "Gateway-Event-Type"
DELIVERY_ID_HEADER = "Gateway-Delivery-Id"
DEFAULT_TOLERANCE_SECONDS = 300


def mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body,
                    hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={mac(secret, t, body)}"


def verify(secret: str, body: bytes, header: str, *,
           tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is recent enough."""
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))
