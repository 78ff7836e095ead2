"""Monthly partitions of `audit_entries` on PostgreSQL (SQLite has none: everything here is a
no-op there).

Partitions live in their own schema, `audit_partitions`, named `audit_entries_pYYYYMM`, with a
`audit_entries_default` partition as a safety net: an append never fails because maintenance
fell behind. `ensure_partitions` creates the months ahead (and moves rows out of the default
partition if it had to catch any); the purge drops whole months. Partitions are created with
`fillfactor = 90` so the commit-time chaining update stays on the same page (a HOT update).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from gateway.kit.timeutil import as_utc, utcnow

SCHEMA = "audit_partitions"
PARENT = "audit_entries"
DEFAULT_PARTITION = "audit_entries_default"
FILLFACTOR = 90
_NAME = re.compile(r"^audit_entries_p(\d{4})(\d{2})$")


@dataclass(frozen=True, order=True)
class Partition:
    lower: datetime
    upper: datetime
    name: str

    @property
    def qualified(self) -> str:
        return f'"{SCHEMA}"."{self.name}"'


def month_start(value: datetime) -> datetime:
    value = as_utc(value)
    return datetime(value.year, value.month, 1, tzinfo=UTC)


def add_months(value: datetime, months: int) -> datetime:
    index = value.year * 12 + value.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_for(month: datetime) -> Partition:
    lower = month_start(month)
    return Partition(lower, add_months(lower, 1),
                     f"audit_entries_p{lower.year:04d}{lower.month:02d}")


def is_partitioned(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return False
    kind = session.execute(text(
        "SELECT c.relkind FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = :name AND n.nspname = pg_catalog.current_schema()"),
        {"name": PARENT}).scalar()
    return kind == "p"


def monthly_partitions(session: Session) -> list[Partition]:
    """The monthly partitions attached to `audit_entries`, oldest first."""
    if not is_partitioned(session):
        return []
    names = session.execute(text(
        "SELECT c.relname FROM pg_catalog.pg_inherits i "
        "JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_catalog.pg_class p ON p.oid = i.inhparent "
        "JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace "
        "WHERE p.relname = :parent AND pn.nspname = pg_catalog.current_schema()"),
        {"parent": PARENT}).scalars()
    found = []
    for name in names:
        match = _NAME.match(name)
        if match:
            found.append(partition_for(datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)))
    return sorted(found)


def _literal(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S+00")


def create_partition_sql(partition: Partition) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {partition.qualified} PARTITION OF {PARENT} "
            f"FOR VALUES FROM ('{_literal(partition.lower)}') TO ('{_literal(partition.upper)}') "
            f"WITH (fillfactor = {FILLFACTOR})")


def ensure_partitions(session: Session, *, start: datetime | None = None,
                      months_ahead: int = 3, now: datetime | None = None) -> list[str]:
    """Create the monthly partitions from `start` (default: this month) to `months_ahead`
    months after `now`. Returns the names created."""
    if not is_partitioned(session):
        return []
    now = now or utcnow()
    month = month_start(start or now)
    last = add_months(month_start(now), months_ahead)
    existing = {p.name for p in monthly_partitions(session)}
    created = []
    while month <= last:
        partition = partition_for(month)
        if partition.name not in existing:
            _create(session, partition)
            created.append(partition.name)
        month = partition.upper
    return created


def _create(session: Session, partition: Partition) -> None:
    default = f'"{SCHEMA}"."{DEFAULT_PARTITION}"'
    bounds = {"lower": partition.lower, "upper": partition.upper}
    # Identifiers below are module constants and generated partition names, never input.
    stranded = session.execute(text(
        f"SELECT EXISTS (SELECT 1 FROM {default} "  # noqa: S608
        "WHERE occurred_at >= :lower AND occurred_at < :upper)"), bounds).scalar()
    if not stranded:
        session.execute(text(create_partition_sql(partition)))
        return
    # The default partition caught rows for this month: move them into the new partition.
    # Detaching the default first keeps PostgreSQL from refusing the new range.
    session.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {default}"))
    session.execute(text(create_partition_sql(partition)))
    session.execute(text(
        f"INSERT INTO {PARENT} SELECT * FROM {default} "  # noqa: S608
        "WHERE occurred_at >= :lower AND occurred_at < :upper"), bounds)
    session.execute(text("SET LOCAL gateway.audit_purge = 'on'"))
    session.execute(text(f"DELETE FROM {default} "  # noqa: S608
                         "WHERE occurred_at >= :lower AND occurred_at < :upper"), bounds)
    session.execute(text("SET LOCAL gateway.audit_purge = 'off'"))
    session.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {default} DEFAULT"))


def drop_partition(session: Session, partition: Partition) -> None:
    session.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {partition.qualified}"))
    session.execute(text(f"DROP TABLE {partition.qualified}"))
