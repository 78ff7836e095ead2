"""Time helpers. Columns return aware UTC datetimes on both databases (`UtcDateTime`,
gateway/kit/models.py); `as_utc` is for values from raw SQL and other sources."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_ns(value: datetime) -> int:
    return int(as_utc(value).timestamp() * 1_000_000_000)


def now_ns() -> int:
    return to_ns(utcnow())


def utc_text(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, microseconds kept: `2026-03-01T09:30:00.123456Z`."""
    return as_utc(value).isoformat().replace("+00:00", "Z")
