"""Commit-time chaining: several hash chains (shards), each extended under a row lock that is
held only while a transaction commits.

Why not lock a chain head when the entry is written? The allow entry is written inside the
request's transaction, so the lock would be held for the whole request (a Gmail call, a
streamed export...) and every shard would serialise whole requests. Instead:

1. `OperationLog.append` inserts the entry *unchained* (`seq` NULL) when the decision is made,
   so a log that cannot be written refuses the access before anything is served;
2. a `before_commit` hook on that session picks a free chain head
   (`FOR UPDATE SKIP LOCKED`, so concurrent committers take different shards), links the
   session's entries to it and moves the head, in the same transaction. With psycopg the
   link is sent together with COMMIT (`gateway.audit.pg_fastpath`), so the lock lives only
   inside the server. If the transaction rolls back, its entries and the head move vanish
   together, so a chain never has a hole that a rollback made.

On PostgreSQL every transaction is linked by one call of the server-side function
`audit_chain_link` (migration 0011_audit_perf), whatever its number of entries: SHA-256 is
computed by `pg_catalog.sha256` over the same bytes `gateway.audit.canonical.link_hash`
hashes; verification recomputes every hash in Python and would catch a database that lied.
SQLite links in Python (`_chain_locked`).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import event, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from gateway.audit import pg_fastpath
from gateway.audit.canonical import link_hash, signed_message
from gateway.audit.errors import OperationLogUnavailable
from gateway.audit.links import CheckpointPolicy as CheckpointPolicy
from gateway.audit.links import HeadState as HeadState
from gateway.audit.links import PendingLink as PendingLink
from gateway.audit.links import checkpoint_fields as checkpoint_fields
from gateway.audit.models import CHECKPOINTS, ENTRIES, GENESIS_HASH, HEADS
from gateway.audit.signing import AuditSigner
from gateway.kit.timeutil import utcnow

log = logging.getLogger(__name__)

DEFAULT_SHARDS = 8
_PENDING = "gateway.audit.pending"
_ENTRIES = ENTRIES
_HEADS = HEADS
_CHECKPOINTS = CHECKPOINTS

# One round trip for all of a transaction's entries (migration 0011_audit_perf): the function
# takes a free head, links the entries in order, moves the head and returns it. It runs with a
# generic plan, so the UPDATE on the partitioned table is not re-planned on every commit.
_PG_CHAIN = text(
    "SELECT shard, seq, entry_hash, checkpoint_seq, checkpointed_at, linked "
    "FROM audit_chain_link(:contents, :ids, :times, :now)")


@dataclass
class _SessionState:
    checkpoints: CheckpointPolicy | None
    links: list[PendingLink] = field(default_factory=list)
    sealed: bool = False  # the link-and-commit already committed this transaction


# The Session hooks, registered once per process on first use: class-level SQLAlchemy events,
# idempotent and holding nothing to close, so not one of the runtime's services.
_listening = False


def _listen() -> None:
    """Hook every Session once per process (on first use, not at import): the hooks return
    at once for a session that appended nothing."""
    global _listening
    if not _listening:
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_transaction_end", _after_transaction_end)
        event.listen(Session, "before_flush", _refuse_late_flush)
        _listening = True


def register(session: Session, link: PendingLink, checkpoints: CheckpointPolicy | None) -> None:
    """Remember `link` and make sure this session chains it when it commits."""
    _listen()
    state: _SessionState | None = session.info.get(_PENDING)
    if state is None:
        state = _SessionState(checkpoints)
        session.info[_PENDING] = state
    elif checkpoints is not None and state.checkpoints is None:
        state.checkpoints = checkpoints
    state.links.append(link)


def pending_count(session: Session) -> int:
    state: _SessionState | None = session.info.get(_PENDING)
    return len(state.links) if state else 0


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Only the outermost transaction: a savepoint rolled back inside it may have taken some
    # entries with it (their chaining UPDATE then matches nothing and they are skipped), but
    # the others must still be chained when the outer transaction commits.
    state: _SessionState | None = session.info.get(_PENDING)
    if state is not None and transaction.parent is None:
        state.links.clear()
        state.sealed = False


def _refuse_late_flush(session: Session, *_: Any) -> None:
    # Something became dirty after the log committed the transaction (another before_commit
    # hook ran after ours): flushing now would silently start a second transaction.
    state: _SessionState | None = session.info.get(_PENDING)
    if state is not None and state.sealed:
        raise RuntimeError("the operation log has already committed this transaction; "
                           "nothing may be written after it (a before_commit hook ran late)")


def _before_commit(session: Session) -> None:
    state: _SessionState | None = session.info.get(_PENDING)
    if state is None or not state.links or session.in_nested_transaction():
        # A savepoint being released fires this too: the entries belong to the enclosing
        # transaction and are linked when it commits (linking here would, on the fast path,
        # COMMIT the request's transaction halfway through the handler).
        return
    links, state.links = state.links, []
    # Flush everything else first: nothing else gets written while we hold a chain head.
    session.flush()
    connection = session.connection()
    if not pg_fastpath.supported(connection.dialect.name, connection.dialect.driver):
        try:
            chain_links(session, links, state.checkpoints)
        except SQLAlchemyError as exc:
            _refuse(exc)
        return
    dbapi_connection = connection.connection.dbapi_connection
    now = utcnow()
    try:
        head = pg_fastpath.link_and_commit(dbapi_connection, links, now)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, nothing was committed
        _refuse(exc)
    state.sealed = True
    if state.checkpoints is not None and state.checkpoints.due(head, now):
        pg_fastpath.checkpoint_after_commit(dbapi_connection, head.shard, state.checkpoints, now)


def _refuse(exc: BaseException) -> NoReturn:
    log.error("operation log: chaining failed (%s); the transaction is refused",
              type(exc).__name__)
    raise OperationLogUnavailable("the operation log could not be sealed; "
                                  "nothing was committed") from exc


def chain_links(session: Session, links: Sequence[PendingLink],
                checkpoints: CheckpointPolicy | None) -> HeadState | None:
    """Link `links` (in order) onto one chain head; returns the head after the move."""
    now = utcnow()
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return _chain_locked(session, links, checkpoints, now)
    params = {"contents": [link.content for link in links],
              "ids": [link.entry_id for link in links],
              "times": [link.occurred_at for link in links], "now": now}
    row = connection.execute(_PG_CHAIN, params).one()
    if row[0] is None:  # no chain head at all (the table was emptied): recreate the default
        ensure_heads(session, DEFAULT_SHARDS)
        row = connection.execute(_PG_CHAIN, params).one()
        if row[0] is None:
            raise OperationLogUnavailable("no operation-log chain is available")
    head = HeadState(row[0], row[1], bytes(row[2]), row[3], row[4])
    if row[5]:  # zero when every entry was rolled back with a savepoint
        _maybe_checkpoint(session, head, checkpoints, now)
    return head


def _lock_any_head(session: Session) -> HeadState:
    columns = (_HEADS.c.shard, _HEADS.c.seq, _HEADS.c.entry_hash, _HEADS.c.checkpoint_seq,
               _HEADS.c.checkpointed_at)
    row = session.execute(select(*columns).order_by(func.random()).limit(1)
                          .with_for_update(skip_locked=True)).first()
    if row is None:
        shards = list(session.scalars(select(_HEADS.c.shard)))
        if not shards:
            ensure_heads(session, DEFAULT_SHARDS)
            shards = list(session.scalars(select(_HEADS.c.shard)))
        # All heads are being committed right now: wait for one (held for one round trip).
        row = session.execute(select(*columns)
                              .where(_HEADS.c.shard == random.choice(shards))  # noqa: S311
                              .with_for_update()).first()
        if row is None:
            raise OperationLogUnavailable("no operation-log chain is available")
    return HeadState(row[0], row[1], bytes(row[2]), row[3], row[4])


def _chain_locked(session: Session, links: Sequence[PendingLink],
                  checkpoints: CheckpointPolicy | None, now: datetime) -> HeadState:
    head = _lock_any_head(session)
    moved = False
    for link in links:
        seq = head.seq + 1
        digest = link_hash(head.entry_hash, seq, head.shard, link.content)
        result = session.execute(
            update(_ENTRIES)
            .where(_ENTRIES.c.id == link.entry_id, _ENTRIES.c.occurred_at == link.occurred_at,
                   _ENTRIES.c.seq.is_(None))
            .values(shard=head.shard, seq=seq, prev_hash=head.entry_hash, entry_hash=digest))
        if _rowcount(result) != 1:
            continue  # rolled back with a savepoint: nothing to link
        head.seq, head.entry_hash, moved = seq, digest, True
    if moved:
        session.execute(update(_HEADS).where(_HEADS.c.shard == head.shard)
                        .values(seq=head.seq, entry_hash=head.entry_hash, updated_at=now))
    _maybe_checkpoint(session, head, checkpoints, now)
    return head


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count


def ensure_heads(session: Session, shards: int) -> int:
    """Create chain heads 0..shards-1 that do not exist yet (never removes one)."""
    rows = [{"shard": s, "seq": 0, "entry_hash": GENESIS_HASH, "updated_at": utcnow(),
             "checkpoint_seq": 0, "checkpointed_at": None} for s in range(shards)]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql.insert(_HEADS).values(rows).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite.insert(_HEADS).values(rows).on_conflict_do_nothing())
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        existing = set(session.scalars(select(_HEADS.c.shard)))
        missing = [r for r in rows if r["shard"] not in existing]
        if missing:
            session.execute(insert(_HEADS), missing)
    return shards


# --- checkpoints --------------------------------------------------------------------------------

def write_checkpoint(session: Session, signer: AuditSigner, head: HeadState,
                     now: datetime) -> None:
    key_id = signer.key_id
    message = signed_message("checkpoint", checkpoint_fields(
        head.shard, head.seq, head.entry_hash, now, key_id))
    session.execute(insert(_CHECKPOINTS).values(
        id=uuid.uuid4(), shard=head.shard, seq=head.seq, entry_hash=head.entry_hash,
        signed_at=now, key_id=key_id, signature=signer.sign(message)))
    session.execute(update(_HEADS).where(_HEADS.c.shard == head.shard)
                    .values(checkpoint_seq=head.seq, checkpointed_at=now))
    head.checkpoint_seq, head.checkpointed_at = head.seq, now


def _maybe_checkpoint(session: Session, head: HeadState, policy: CheckpointPolicy | None,
                      now: datetime) -> None:
    if policy is not None and policy.due(head, now):
        write_checkpoint(session, policy.signer, head, now)


def checkpoint_due_shards(session: Session, policy: CheckpointPolicy, *,
                          force: bool = False) -> int:
    """Sign the heads that are due (or, with `force`, every head with unsigned entries).
    Heads a committer holds right now are skipped; the next sweep or append signs them."""
    now = utcnow()
    rows = session.execute(
        select(_HEADS.c.shard, _HEADS.c.seq, _HEADS.c.entry_hash, _HEADS.c.checkpoint_seq,
               _HEADS.c.checkpointed_at)
        .where(_HEADS.c.seq > _HEADS.c.checkpoint_seq)
        .order_by(_HEADS.c.shard)
        .with_for_update(skip_locked=True)).all()
    signed = 0
    for row in rows:
        head = HeadState(row[0], row[1], bytes(row[2]), row[3], row[4])
        if force or policy.due(head, now):
            write_checkpoint(session, policy.signer, head, now)
            signed += 1
    return signed
