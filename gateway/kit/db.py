"""Engines and sessions. The request owns the transaction: `session_dependency` commits on
success and rolls back on error; services and repositories only ever `flush()`.

`Database.independent_session()` opens a separate transaction for writes that must survive the
request's rollback (a policy denial's operation-log entry).

SQLite has one writer per database file, and a transaction holds that write lock from its first
write to its end. A request that has written (`last_used_at`, an allow entry) and then needs an
independent commit (a store read's entry, a dead grant's state) would wait on its own lock
until `busy_timeout` and fail. So on SQLite an independent unit of work joins the transaction of
the unit of work already open in the same context when that one holds the write lock: it runs
in a savepoint of it (an error undoes only the block) and commits it, on the same connection.
The entry is then durable before the call returns, as on PostgreSQL; what the request wrote
before that point is committed with it (docs/decisions/0008-sqlite-one-writer.md).
Connections use WAL (readers never wait on the writer), and units of work in different
contexts (requests, the in-process worker) queue for the write lock in arrival order
(gateway/kit/sqlite_writer.py) instead of polling for it until `busy_timeout`.

Connections are checked for liveness only when they have sat idle in the pool for more than
`IDLE_PING_SECONDS` (not on every checkout, as `pool_pre_ping` does: one extra round trip per
request). A connection the server dropped while it was in recent use fails its first statement
instead; SQLAlchemy then invalidates the whole pool, so a database restart costs at most the
requests in flight at that moment, each refused with a 503 (gateway/kit/problem.py), never served.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, exc, make_url
from sqlalchemy.orm import Session, sessionmaker

from gateway.kit.sqlite_writer import GatedConnection, gate_for

IDLE_PING_SECONDS = 10.0
SQLITE_BUSY_TIMEOUT_MS = 15000
T = TypeVar("T")

# The unit of work open in this context (a request's session, a `Database.transaction()`):
# what an independent unit of work joins on SQLite while it holds the write lock.
_current_unit: ContextVar[Session | None] = ContextVar("gateway_current_unit", default=None)


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = make_url(url).database or ""
        gate = gate_for(os.path.abspath(path)) if path and path != ":memory:" else None
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "factory": GatedConnection}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL up to the last commit
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()
            dbapi_conn.gate = gate

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


def holds_sqlite_write_lock(session: Session) -> bool:
    """Whether `session`'s SQLite connection is inside a transaction that has written (the
    sqlite3 module opens one only before the first INSERT/UPDATE/DELETE)."""
    if not session.in_transaction():
        return False
    dbapi = session.connection().connection.dbapi_connection
    return bool(getattr(dbapi, "in_transaction", False))


def enter_unit(session: Session) -> Any:
    """Make `session` the unit of work of this context; returns the token for `leave_unit`."""
    return _current_unit.set(session)


def leave_unit(token: Any) -> None:
    try:
        _current_unit.reset(token)
    except ValueError:  # ended in a copy of the context it began in: that copy ends with it
        _current_unit.set(None)


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.is_sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        return cls(make_engine(url, **kwargs))

    def _writing_unit(self) -> Session | None:
        unit = _current_unit.get()
        if (not self.is_sqlite or unit is None or unit.bind is not self.engine
                or not holds_sqlite_write_lock(unit)):
            return None
        return unit

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work of its own (its own connection): commit on success, roll back on any
        error. Independent units of work begun inside it join it on SQLite (module doc)."""
        session = self.sessions()
        token = enter_unit(session)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            leave_unit(token)
            session.close()

    @contextmanager
    def independent_session(self) -> Iterator[Session]:
        """A unit of work whose commit must not wait for, or be undone by, the caller's: a
        transaction of its own; on SQLite, while the caller's unit of work holds the write
        lock, a savepoint of that one committed at the end of the block (module doc)."""
        joined = self._writing_unit()
        if joined is None:
            with self.transaction() as session:
                yield session
            return
        nested = joined.begin_nested()
        try:
            yield joined
        except BaseException:
            if nested.is_active:  # a block nested in this one may have committed already
                nested.rollback()
            raise
        if nested.is_active:
            nested.commit()
        joined.commit()

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
