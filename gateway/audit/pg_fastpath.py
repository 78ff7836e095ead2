"""The operation log's path on PostgreSQL through psycopg 3: the insert and the commit-time link
without SQLAlchemy's per-statement work, and the link sent together with COMMIT.

**Link and commit in one round trip.** The commit-time link (`gateway.audit.chain`) holds a
chain head from the moment it is taken until COMMIT. Sent as two round trips, the head stays
locked while the client receives the link's result and sends COMMIT, so a writer process that
is descheduled in between (16 writers on 2 cores) stalls every committer waiting for that
chain. Here `SELECT … FROM audit_chain_link(…); COMMIT` travels as one simple-query message:
the server runs both back to back, the lock lives only inside the server, and the request
saves a round trip.

- If linking fails, PostgreSQL skips the rest of the message: nothing is committed and the
  caller raises `OperationLogUnavailable` (503).
- SQLAlchemy's own COMMIT that follows finds the connection idle, and psycopg sends nothing.
  Nothing may be written in that session after the hook: `chain` refuses a late flush
  instead of letting it start a second transaction.
- A checkpoint due on the chain is signed right after, in its own short transaction on the
  same connection (the head's current state, under its lock). The entries are committed by
  then, so a checkpoint that cannot be written is logged, not turned into a refusal; the next
  append on that chain or `gmail-gateway audit checkpoint` signs it.

The one-message statement needs its values inline. They are never client input: entry ids
are `uuid.UUID`, times aware `datetime`s, contents `bytes` rendered as hex — each checked
by type, so the literal text can only be digits, hex and ISO-8601 punctuation.

**The insert** is a fixed statement with positional parameters on the raw connection (psycopg
prepares it server-side after a few uses); SQLAlchemy's compile-cache lookup and parameter
processing cost more than the statement's own client work.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.audit.canonical import signed_message

if TYPE_CHECKING:
    from gateway.audit.links import CheckpointPolicy, HeadState, PendingLink

log = logging.getLogger(__name__)

INSERT_COLUMNS = (
    "id", "occurred_at", "request_id", "tenant_id", "mailbox_id", "actor_kind", "actor_id",
    "connection_id", "client_ip", "user_agent", "device_id", "protocol", "upstream_protocol",
    "operation", "action", "purpose", "resource_type", "resource_ids", "decision", "reasons",
    "policy_revision", "detail",
)
_JSON = frozenset({"resource_ids", "reasons", "detail"})
# Built from the constant column list above; values are bound as parameters.
_INSERT = (f"INSERT INTO audit_entries ({', '.join(INSERT_COLUMNS)}) VALUES ("  # noqa: S608
           + ", ".join("%s::json" if c in _JSON else "%s" for c in INSERT_COLUMNS) + ")")
_LOCK_HEAD = ("SELECT shard, seq, entry_hash, checkpoint_seq, checkpointed_at "
              "FROM audit_chain_heads WHERE shard = %s FOR UPDATE SKIP LOCKED")
_INSERT_CHECKPOINT = ("INSERT INTO audit_checkpoints (id, shard, seq, entry_hash, signed_at, "
                      "key_id, signature) VALUES (%s, %s, %s, %s, %s, %s, %s)")
_MARK_HEAD = ("UPDATE audit_chain_heads SET checkpoint_seq = %s, checkpointed_at = %s "
              "WHERE shard = %s")


def supported(dialect_name: str, driver: str) -> bool:
    return dialect_name == "postgresql" and driver == "psycopg"


def insert(dbapi_connection: Any, params: Mapping[str, Any]) -> None:
    """Insert one entry (JSON columns given as their canonical text). Raises psycopg's error."""
    import psycopg

    connection: psycopg.Connection[Any] = dbapi_connection
    with psycopg.Cursor(connection) as cursor:
        cursor.execute(_INSERT, [params[c] for c in INSERT_COLUMNS])


def _time_literal(value: datetime) -> str:
    if type(value) is not datetime or value.tzinfo is None:
        raise TypeError("an operation-log time must be an aware datetime")
    return f"'{value.isoformat()}'::timestamptz"


def link_and_commit_sql(links: Sequence[PendingLink], now: datetime) -> str:
    contents, ids, times = [], [], []
    for link in links:
        if type(link.entry_id) is not uuid.UUID or type(link.content) is not bytes:
            raise TypeError("an operation-log link needs a uuid.UUID id and bytes content")
        contents.append(f"pg_catalog.decode('{link.content.hex()}', 'hex')")
        ids.append(f"'{link.entry_id}'::uuid")
        times.append(_time_literal(link.occurred_at))
    # Inline values checked by type above: digits, hex and ISO-8601 punctuation only.
    return ("SELECT shard, seq, entry_hash, checkpoint_seq, checkpointed_at, linked "  # noqa: S608
            f"FROM audit_chain_link(ARRAY[{', '.join(contents)}], ARRAY[{', '.join(ids)}], "
            f"ARRAY[{', '.join(times)}], {_time_literal(now)}); COMMIT")


def link_and_commit(dbapi_connection: Any, links: Sequence[PendingLink],
                    now: datetime) -> HeadState:
    """Link `links` to a free chain and COMMIT, in one round trip. Raises psycopg's error
    (nothing committed) if the link fails."""
    import psycopg
    from psycopg import pq

    from gateway.audit.links import HeadState

    connection: psycopg.Connection[Any] = dbapi_connection
    with psycopg.Cursor(connection) as cursor:  # text format, no parameters: simple query
        cursor.execute(link_and_commit_sql(links, now))
        row = cursor.fetchone()
    if row is None or connection.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("the operation log's link-and-commit did not commit")
    return HeadState(row[0], row[1], bytes(row[2]), row[3], row[4])


def checkpoint_after_commit(dbapi_connection: Any, shard: int, policy: CheckpointPolicy,
                            now: datetime) -> bool:
    """Sign chain `shard` if it is still due, in a transaction of its own. Never raises for a
    database error (the entries are already committed): logs it and returns False."""
    import psycopg

    from gateway.audit.links import HeadState, checkpoint_fields

    connection: psycopg.Connection[Any] = dbapi_connection
    try:
        with psycopg.Cursor(connection) as cursor:
            row = cursor.execute(_LOCK_HEAD, (shard,)).fetchone()
            head = HeadState(row[0], row[1], bytes(row[2]), row[3], row[4]) if row else None
            # None: a committer holds the head right now; it (or the sweeper) signs next.
            if head is None or not policy.due(head, now):
                connection.rollback()
                return False
            key_id = policy.signer.key_id
            signature = policy.signer.sign(signed_message("checkpoint", checkpoint_fields(
                head.shard, head.seq, head.entry_hash, now, key_id)))
            cursor.execute(_INSERT_CHECKPOINT, (uuid.uuid4(), head.shard, head.seq,
                                                head.entry_hash, now, key_id, signature))
            cursor.execute(_MARK_HEAD, (head.seq, now, head.shard))
        connection.commit()
        return True
    except psycopg.Error as exc:
        log.warning("operation log: checkpoint of chain %s not signed (%s); the next append "
                    "or `audit checkpoint` will", shard, type(exc).__name__)
        try:
            connection.rollback()
        except psycopg.Error:  # a broken connection: the pool discards it
            log.warning("operation log: rollback after a failed checkpoint failed too")
        return False
