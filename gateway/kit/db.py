"""Engines and sessions. The request owns the transaction: `session_dependency` commits on
success and rolls back on error; services and repositories only ever `flush()`.

`Database.independent_session()` opens a separate transaction for writes that must survive the
request's rollback (a policy denial's operation-log entry).

Connections are checked for liveness only when they have sat idle in the pool for more than
`IDLE_PING_SECONDS` (not on every checkout, as `pool_pre_ping` does: one extra round trip per
request). A connection the server dropped while it was in recent use fails its first statement
instead; SQLAlchemy then invalidates the whole pool, so a database restart costs at most the
requests in flight at that moment, each refused with a 503 (gateway/kit/problem.py), never served.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

IDLE_PING_SECONDS = 10.0
T = TypeVar("T")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        ping_when_idle(engine, IDLE_PING_SECONDS)
    return engine


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Pessimistic disconnect handling for connections idle longer than `idle_seconds`: ping
    them on checkout; a failed ping makes the pool discard the connection and try another."""

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is not None and time.monotonic() - returned <= idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:  # any failure: drop this connection, try another
            raise exc.DisconnectionError() from error


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        return cls(make_engine(url, **kwargs))

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    independent_session = transaction

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()


def call_and_commit(session: Session, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, then the commit of the request's transaction, on the calling thread (already
    a thread-pool thread: `run_and_commit`, the Guard's `serve`). A failed commit still fails
    the request, 503, before anything is sent; `session_dependency` then finds no transaction
    left to end."""
    result = fn(*args)
    session.commit()
    return result
