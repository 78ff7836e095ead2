"""Time helpers. SQLite hands back naive datetimes even for timezone-aware columns."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_ns(value: datetime) -> int:
    return int(as_utc(value).timestamp() * 1_000_000_000)


def now_ns() -> int:
    return to_ns(datetime.now(UTC))
