"""Group commit for entries that commit in a transaction of their own (a denial, an
upstream-effect allow, a refusal): concurrent callers in one process share one transaction,
and each returns only once *its* entry is committed.

Why: such an entry is a whole transaction by itself, and on PostgreSQL through SQLAlchemy a
one-entry transaction costs four round trips (pool pre-ping, BEGIN, INSERT, link + COMMIT) and
~1.4 ms of CPU, most of it per transaction, not per entry. Here a batch of entries is one
extended-protocol call of `audit_append` (migration 0013_audit_append) in autocommit mode:
the server takes a free chain head, inserts the rows already linked, moves the head and
commits when the call returns — one round trip for the whole batch, on a connection the
appender keeps checked out of the pool (returned after `IDLE_RELEASE_SECONDS` without use, so
the pool's pre-ping covers a server restart).

Leader/follower, no extra thread: the first caller to find nobody flushing becomes the leader
and sends everything queued (its own entry included); callers arriving meanwhile queue and
wait. When the leader's own entry is committed it hands the lead to the oldest waiter, so no
caller serves others for more than one extra batch. A failed call fails every entry of its
batch (`OperationLogUnavailable`, 503): nothing of that batch was committed (the call is one
implicit transaction), and the connection is discarded. Nothing is retried: a call whose
outcome is unknown (connection lost after sending) must not be replayed as a second copy.

A checkpoint due on the batch's chain is signed by the leader after the batch's callers are
released and before it hands the lead on, in a transaction of its own on the same connection
(`pg_fastpath.checkpoint_after_commit`, as on the other path): every 1,000 entries per chain
by default, the next batch waits for one signature.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import event

from gateway.audit.errors import OperationLogUnavailable
from gateway.audit.pg_fastpath import INSERT_COLUMNS, checkpoint_after_commit
from gateway.kit.timeutil import utcnow

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.pool import PoolProxiedConnection

    from gateway.audit.chain import CheckpointPolicy, HeadState

log = logging.getLogger(__name__)

MAX_BATCH = 256
IDLE_RELEASE_SECONDS = 10.0
_APPEND = ("SELECT shard, seq, entry_hash, checkpoint_seq, checkpointed_at "
           "FROM audit_append(%s::jsonb, %s::timestamptz)")
_UUIDS = frozenset({"id", "tenant_id", "mailbox_id"})
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode


_TEXT_COLUMNS = tuple(c for c in INSERT_COLUMNS if c not in _UUIDS and c != "occurred_at")
assert INSERT_COLUMNS[:2] == ("id", "occurred_at")
assert INSERT_COLUMNS[3:5] == ("tenant_id", "mailbox_id")


def _row(params: Mapping[str, Any], content: bytes) -> list[str | None]:
    """One entry as `audit_append` reads it: the columns of INSERT_COLUMNS as text, in order,
    then the content in hex. Types are checked: this text is what the server stores."""
    entry_id, at = params["id"], params["occurred_at"]
    tenant, mailbox = params["tenant_id"], params["mailbox_id"]
    if type(entry_id) is not uuid.UUID or type(at) is not datetime or at.tzinfo is None:
        raise TypeError("an operation-log entry needs a uuid.UUID id and an aware datetime")
    texts = [params[c] for c in _TEXT_COLUMNS]
    if any(v is not None and type(v) is not str for v in texts):
        raise TypeError("operation-log text columns must be str or None")
    for value in (tenant, mailbox):
        if value is not None and type(value) is not uuid.UUID:
            raise TypeError("operation-log tenant and mailbox ids must be uuid.UUID")
    return [str(entry_id), at.isoformat(), texts[0],
            None if tenant is None else str(tenant), None if mailbox is None else str(mailbox),
            *texts[1:], content.hex()]


class _Item:
    __slots__ = ("checkpoints", "done", "error", "lead", "position", "row")

    def __init__(self, params: Mapping[str, Any], content: bytes,
                 checkpoints: CheckpointPolicy | None) -> None:
        self.checkpoints = checkpoints
        self.row = _row(params, content)  # in the caller's thread, not the leader's
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.lead = False  # woken to lead, not because its entry is done
        self.position: tuple[int, int] | None = None  # (shard, seq) once committed


class GroupAppender:
    """One per engine and process (`for_engine`)."""

    def __init__(self, engine: Engine, *, max_batch: int = MAX_BATCH) -> None:
        self._engine = weakref.ref(engine)  # the registry is keyed by the engine
        self._max_batch = max_batch
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._queue: list[_Item] = []
        self._leading = False
        self._connection: PoolProxiedConnection | None = None
        self._last_used = 0.0
        self.batches = 0  # counters for tests and benchmarks
        self.entries = 0

    def append(self, params: Mapping[str, Any], content: bytes,
               checkpoints: CheckpointPolicy | None) -> tuple[int, int]:
        """Commit one entry (JSON columns as their canonical text in `params`, `content` its
        canonical bytes); returns its (shard, seq). Raises `OperationLogUnavailable`."""
        item = _Item(params, content, checkpoints)
        with self._lock:
            self._queue.append(item)
            lead = not self._leading
            self._leading = True
        if not lead:
            item.done.wait()
            lead = item.lead
        if lead:
            self._lead(item)
        if item.error is not None:
            raise OperationLogUnavailable(
                "the operation log could not be written; nothing was committed") from item.error
        assert item.position is not None
        return item.position

    def _lead(self, mine: _Item) -> None:
        try:
            while True:
                with self._lock:
                    batch = self._queue[:self._max_batch]
                    del self._queue[:self._max_batch]
                head = self._flush(batch) if batch else None
                if head is not None:  # its callers are released; sign before handing over
                    policy = next((i.checkpoints for i in batch if i.checkpoints is not None),
                                  None)
                    if policy is not None:
                        self._checkpoint(head, policy)
                if mine.position is not None or mine.error is not None or not batch:
                    return
                # Our own entry is still queued (the batch before it was full): lead again.
        finally:  # whatever happened, the next caller must not wait for a leader that left
            with self._lock:
                if self._queue:  # hand the lead to the oldest waiter
                    successor = self._queue[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    self._leading = False

    def _flush(self, batch: Sequence[_Item]) -> HeadState | None:
        from gateway.audit.chain import HeadState

        now = utcnow()
        params = (_encode([item.row for item in batch]), now)
        head: HeadState | None = None
        try:
            connection = self._checkout()
            with connection.cursor() as cursor:
                row = cursor.execute(_APPEND, params, prepare=True).fetchone()
            if row is None:
                raise RuntimeError("audit_append returned no head")
            head = HeadState(row[0], row[1], bytes(row[2]), row[3], row[4])
        except BaseException as exc:  # whatever it was, the batch is refused
            log.error("operation log: a batch of %d entries could not be committed (%s)",
                      len(batch), type(exc).__name__)
            self._discard()
            for item in batch:
                item.error = exc
                item.done.set()
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt and the like: its waiters are already released
            return None
        first = head.seq - len(batch) + 1
        for offset, item in enumerate(batch):
            item.position = (head.shard, first + offset)
            item.done.set()
        self.batches += 1
        self.entries += len(batch)
        self._last_used = time.monotonic()
        return head

    def _checkout(self) -> Any:
        """The psycopg connection this appender writes on (autocommit: a call is a
        transaction)."""
        if self._connection is not None and (
                time.monotonic() - self._last_used > IDLE_RELEASE_SECONDS):
            self._release()
        if self._connection is None:
            engine = self._engine()
            if engine is None:
                raise RuntimeError("the engine of this appender is gone")
            self._connection = engine.raw_connection()  # the pool pre-pings it
            self._connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]
        return self._connection.dbapi_connection

    def _checkpoint(self, head: HeadState, policy: CheckpointPolicy) -> None:
        """Sign the batch's chain if it is due, on the appender's connection (the leader holds
        it), in a transaction of its own. The entries are committed: a failure is logged, and
        the next batch on that chain or the sweeper signs it."""
        now = utcnow()
        if not policy.due(head, now) or self._connection is None:
            return
        connection = self._connection.dbapi_connection
        try:
            connection.autocommit = False  # type: ignore[union-attr]
            checkpoint_after_commit(connection, head.shard, policy, now)
            connection.autocommit = True  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - the entries are committed; a checkpoint can wait
            log.warning("operation log: checkpoint after a group commit failed")
            self._discard()

    def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.dbapi_connection.autocommit = False  # type: ignore[union-attr]
                connection.close()  # back to the pool
            except Exception:  # noqa: BLE001
                connection.invalidate()

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.invalidate()  # its state is unknown: never back into the pool

    def close(self, *, discard: bool = False) -> None:
        """Give the connection back to the pool (`discard`: close it, for a disposed engine
        whose old pool would otherwise keep it). A batch in flight keeps it until the next
        idle release."""
        with self._lock:
            if self._leading:
                return
            if discard:
                self._discard()
            else:
                self._release()


_APPENDERS: weakref.WeakKeyDictionary[Engine, GroupAppender] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def for_engine(engine: Engine) -> GroupAppender:
    """The process's appender for `engine` (a new one after a fork: a connection is never
    shared with the parent). `engine.dispose()` (app shutdown) gives its connection back."""
    with _REGISTRY_LOCK:
        appender = _APPENDERS.get(engine)
        if appender is None or appender._pid != os.getpid():
            appender = GroupAppender(engine)
            _APPENDERS[engine] = appender
            if not event.contains(engine, "engine_disposed", _engine_disposed):
                event.listen(engine, "engine_disposed", _engine_disposed)
        return appender


def _engine_disposed(engine: Engine) -> None:
    appender = _APPENDERS.get(engine)
    if appender is not None and appender._pid == os.getpid():
        appender.close(discard=True)
