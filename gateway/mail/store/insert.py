"""Inserting new `messages` rows while the rest of the batch is still being parsed and sealed.

`MessageInserter.add(row)` takes each sealed row as soon as it is built. On PostgreSQL the row's
INSERT ... ON CONFLICT (mailbox, gmail id) DO NOTHING RETURNING id is sent at once in psycopg
pipeline mode (no wait for its result), so the server stores message n — TOAST and WAL for a
~150 KB sealed raw message, index and foreign-key checks, about as much CPU as parsing and
sealing it — while this process parses and seals message n+1: on two cores the two overlap
instead of taking turns. Leaving the `with` block syncs the pipeline; `inserted()` then gives
the ids that went in (a row whose gmail id a concurrent writer stored first is skipped and not
returned). Same transaction as the caller's session, so it commits or rolls back with it.

The statement is the one SQLAlchemy compiles for this INSERT, sent through psycopg directly:
one short prepared statement per row with binary bytea parameters. SQLAlchemy's multi-row
VALUES form (700 parameters per 50 rows) is too long for psycopg's statement cache and was
re-parsed on every batch, costing more than the sealing. Sealed columns go through
`EncryptedColumn`'s own bind check, so plaintext is refused here exactly as in an ORM flush.
Other databases (SQLite) get one multi-row INSERT of all rows in `inserted()`.
"""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any, cast

from sqlalchemy import JSON, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.crypto import EncryptedColumn
from gateway.mail.models import Message

_MESSAGES = cast(Table, Message.__table__)
_COLUMNS = tuple(column.name for column in _MESSAGES.columns)
_SEALED = frozenset(column.name for column in _MESSAGES.columns
                    if isinstance(column.type, EncryptedColumn))
_JSON = frozenset(column.name for column in _MESSAGES.columns if isinstance(column.type, JSON))
_PG_INSERT = str(postgresql.insert(_MESSAGES).on_conflict_do_nothing(
    index_elements=["mailbox_id", "gmail_id"]).returning(_MESSAGES.c.id).compile(
    dialect=postgresql.psycopg.dialect(),  # type: ignore[no-untyped-call]
    column_keys=list(_COLUMNS)))


class MessageInserter:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._bind = session.connection()
        self._rows: list[dict[str, Any]] = []
        self._cursors: list[Any] = []
        self._pipeline: Any = None
        self._driver: Any = None
        if self._bind.dialect.name == "postgresql":
            self._driver = self._bind.connection.driver_connection
        self._sealed_type = EncryptedColumn()

    def __enter__(self) -> MessageInserter:
        if self._driver is not None:
            self._pipeline = self._driver.pipeline()
            self._pipeline.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._pipeline is not None:
            pipeline, self._pipeline = self._pipeline, None
            pipeline.__exit__(exc_type, exc, tb)  # sync: every result has arrived

    def add(self, row: dict[str, Any]) -> None:
        """Queue (PostgreSQL: send) the INSERT of one `messages` row."""
        if set(row) != set(_COLUMNS):
            raise ValueError("a messages row needs exactly the table's columns")
        self._rows.append(row)
        if self._driver is None:
            return
        from psycopg.types.json import Json

        dialect = self._bind.dialect
        params = {name: (self._sealed_type.process_bind_param(value, dialect)
                         if name in _SEALED else Json(value) if name in _JSON else value)
                  for name, value in row.items()}
        cursor = self._driver.cursor()
        self._cursors.append(cursor)
        cursor.execute(_PG_INSERT, params)

    def inserted(self) -> set[uuid.UUID]:
        """Ids of the rows that went in (after the `with` block)."""
        if self._pipeline is not None:
            raise RuntimeError("leave the with block first")
        if self._driver is None:
            if not self._rows:
                return set()
            stmt = sqlite.insert(_MESSAGES).on_conflict_do_nothing(
                index_elements=["mailbox_id", "gmail_id"]).returning(_MESSAGES.c.id)
            return set(self._session.scalars(stmt, self._rows))
        out: set[uuid.UUID] = set()
        for cursor in self._cursors:
            out.update(record[0] for record in cursor.fetchall())
            cursor.close()
        self._cursors = []
        return out


def insert_messages(session: Session, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """All rows at once; the ids that went in."""
    with MessageInserter(session) as inserter:
        for row in rows:
            inserter.add(row)
    return inserter.inserted()
