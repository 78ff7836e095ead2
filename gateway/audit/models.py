"""The operation-log tables. Ids of content only, never content, subjects or tokens.

`audit_entries` is append-only: a row is inserted unchained when the enforcement point decides
(so a failing write refuses the access before anything is served) and chained once, when its
transaction commits (`shard`, `seq`, `prev_hash`, `entry_hash`; see `gateway.audit.chain`).
On PostgreSQL the table is range-partitioned by month on `occurred_at` (partitions live in the
`audit_partitions` schema) so the one-year purge drops partitions instead of rewriting the
table, and a trigger refuses any other UPDATE and any DELETE outside the purge.

No foreign keys on purpose: entries outlive the tenants, principals and mailboxes they name
(deleting an account must not delete its log before the year is over).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import JSON, BigInteger, Index, LargeBinary, String, Table, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from gateway.kit.models import Base
from gateway.kit.timeutil import utcnow

HASH_BYTES = 32
GENESIS_HASH = bytes(HASH_BYTES)


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_tenant_time", "tenant_id", "occurred_at", "id"),
        Index("ix_audit_entries_tenant_mailbox_time", "tenant_id", "mailbox_id", "occurred_at",
              "id"),
        Index("ix_audit_entries_tenant_actor_time", "tenant_id", "actor_id", "occurred_at", "id"),
        # No index on (shard, seq): chaining updates only unindexed columns, so PostgreSQL can
        # do it as a HOT update (no index writes); verification reads rows in any order.
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Part of the key because PostgreSQL partitions by it (a partitioned table's unique
    # constraints must include the partition key).
    occurred_at: Mapped[datetime] = mapped_column(primary_key=True, default=utcnow, index=True)

    # The chain position, NULL only between the insert and the commit of the same transaction.
    shard: Mapped[int | None] = mapped_column(default=None)
    seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary(HASH_BYTES), default=None)
    entry_hash: Mapped[bytes | None] = mapped_column(LargeBinary(HASH_BYTES), default=None)

    request_id: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    mailbox_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    actor_kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(64))
    connection_id: Mapped[str] = mapped_column(String(128))
    client_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(256), default=None)
    device_id: Mapped[str | None] = mapped_column(String(128), default=None)
    protocol: Mapped[str] = mapped_column(String(64))
    upstream_protocol: Mapped[str | None] = mapped_column(String(64), default=None)
    operation: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str | None] = mapped_column(String(32), default=None)
    resource_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    decision: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    policy_revision: Mapped[str] = mapped_column(String(80))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class AuditChainHead(Base):
    """One row per chain (shard): where the next entry links. A writer locks one head row only
    while its transaction commits (`FOR UPDATE SKIP LOCKED`, so concurrent committers take
    different shards); nothing holds it for the length of a request."""

    __tablename__ = "audit_chain_heads"

    shard: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_BYTES), default=GENESIS_HASH)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    checkpoint_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    checkpointed_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditCheckpoint(Base):
    """A signed statement "shard S had entry_hash H at seq N" (Ed25519). A database
    administrator can recompute SHA-256 chains but cannot forge these signatures."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_shard_seq", "shard", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    shard: Mapped[int] = mapped_column()
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_BYTES))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class AuditAnchor(Base):
    """Left by the retention purge: for every shard, the last purged position and hash (and the
    hashes of purged entries that sat after a kept one), signed, so what remains verifies."""

    __tablename__ = "audit_anchors"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    cutoff: Mapped[datetime] = mapped_column()
    removed: Mapped[int] = mapped_column(BigInteger, default=0)
    shards: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


# Core handles on the tables (the log writes through Core: one statement, no unit of work).
ENTRIES = cast(Table, AuditEntry.__table__)
HEADS = cast(Table, AuditChainHead.__table__)
CHECKPOINTS = cast(Table, AuditCheckpoint.__table__)
ANCHORS = cast(Table, AuditAnchor.__table__)
