"""Declarative base shared by every domain's tables, with stable constraint names for Alembic.

Every `datetime` column is a `UtcDateTime`: stored as UTC and read back timezone-aware in UTC on
both databases (SQLite keeps no zone and hands back naive values; PostgreSQL answers in the
session's zone), so what the API serves, cursors and hashes are the same on either."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Dialect, Interval, MetaData, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from gateway.kit.timeutil import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



class UtcDateTime(TypeDecorator[datetime]):
    """`TIMESTAMP WITH TIME ZONE` that binds and returns aware UTC datetimes. A naive value is
    taken as UTC (the gateway's convention everywhere, `gateway.kit.timeutil.as_utc`)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"a datetime column takes a datetime, not {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:  # within a day of year 1 or 9999: past every stored moment
            bound = datetime.max if value.year > 1 else datetime.min
            return bound.replace(tzinfo=UTC)

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        """`column - timedelta(...)` in SQL is date arithmetic: the interval binds as one."""
        if isinstance(value, timedelta):
            return Interval()
        return self

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite through a raw or differently typed expression
            value = datetime.fromisoformat(value)
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class CreatedMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
