"""One writer at a time on a SQLite file, in arrival order, within this process.

SQLite lets one connection write at a time; the others retry during `busy_timeout`, by
sleeping and polling. Polling is not a queue: a writer that commits and begins again at once
(the sync worker, page after page) can take the lock back every time, and a request waiting on
it fails after the timeout though the database was never stuck. So before a connection starts
a write transaction it takes a turn at this process's writer gate for the file, first come
first served, and gives it back when its transaction ends (commit, rollback, or the release of
its outermost savepoint). SQLite's own lock and `busy_timeout` remain for other processes (the
CLI, a second server).

Connections are `GatedConnection`s (`sqlite3.connect(factory=...)`); statements that write
(`INSERT`, `UPDATE`, `DELETE`, `REPLACE`, `SAVEPOINT`) are the ones that open a transaction in
the sqlite3 module's default mode. A turn not granted within the timeout raises
`sqlite3.OperationalError("database is locked")`, as SQLite itself would: a 503.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from typing import Any

WRITE_PREFIXES = ("insert", "update", "delete", "replace", "savepoint", "with")
DEFAULT_TIMEOUT_SECONDS = 30.0


class WriterGate:
    """A FIFO lock held by one connection at a time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()
        self.holder: object | None = None
        self.waited_seconds = 0.0  # total time spent waiting for a turn (for measurements)
        self.turns = 0

    def acquire(self, owner: object, timeout: float) -> None:
        started = time.monotonic()
        with self._cond:
            self._queue.append(owner)
            try:
                granted = self._cond.wait_for(
                    lambda: self.holder is None and self._queue[0] is owner, timeout)
            except BaseException:
                self._queue.remove(owner)
                self._cond.notify_all()
                raise
            self._queue.remove(owner)
            if not granted:
                self._cond.notify_all()  # the next in line may be due now
                raise sqlite3.OperationalError("database is locked")
            self.holder = owner
            self.turns += 1
            self.waited_seconds += time.monotonic() - started

    def release(self, owner: object) -> None:
        with self._cond:
            if self.holder is owner:
                self.holder = None
                self._cond.notify_all()


_GATES: dict[str, WriterGate] = {}
_GATES_LOCK = threading.Lock()


def gate_for(path: str) -> WriterGate:
    with _GATES_LOCK:
        return _GATES.setdefault(path, WriterGate())


class GatedCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> GatedCursor:
        connection: GatedConnection = self.connection  # type: ignore[assignment]
        connection.before_statement(sql)
        try:
            super().execute(sql, parameters)
        finally:
            connection.after_statement()
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> GatedCursor:
        connection: GatedConnection = self.connection  # type: ignore[assignment]
        connection.before_statement(sql)
        try:
            super().executemany(sql, seq_of_parameters)
        finally:
            connection.after_statement()
        return self


class GatedConnection(sqlite3.Connection):
    """A sqlite3 connection that takes a turn at its file's `WriterGate` before it writes."""

    gate: WriterGate | None = None
    gate_timeout = DEFAULT_TIMEOUT_SECONDS

    def cursor(self, factory: Any = GatedCursor) -> Any:
        return super().cursor(factory)

    def before_statement(self, sql: str) -> None:
        if self.gate is None or self.in_transaction or self.gate.holder is self:
            return
        if sql.lstrip()[:9].lower().startswith(WRITE_PREFIXES):
            self.gate.acquire(self, self.gate_timeout)

    def after_statement(self) -> None:
        if self.gate is not None and not self.in_transaction:
            self.gate.release(self)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.after_statement()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.after_statement()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.gate is not None:
                self.gate.release(self)
