"""The operation log proper: hash chains (heads), signed checkpoints, purge anchors; on
PostgreSQL `audit_entries` becomes range-partitioned by month (partitions in the
`audit_partitions` schema) and append-only by trigger.

Rows written under 0001 (unchained) are chained into shard 0 in time order on the way.

Revision ID: 0003_audit
Revises: 0002_crypto
Create Date: 2026-11-22 02:30:00
"""
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003_audit"
down_revision: str | None = "0002_crypto"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 8
GENESIS = bytes(32)
PARTITION_SCHEMA = "audit_partitions"
CONTENT = ("id", "occurred_at", "request_id", "tenant_id", "mailbox_id", "actor_kind",
           "actor_id", "connection_id", "client_ip", "user_agent", "device_id", "protocol",
           "upstream_protocol", "operation", "action", "purpose", "resource_type",
           "resource_ids", "decision", "reasons", "policy_revision", "detail")
CHAIN = ("shard", "seq", "prev_hash", "entry_hash")

ENTRIES_GUARD = """
CREATE FUNCTION audit_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF coalesce(current_setting('gateway.audit_purge', true), '') = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_entries is append-only: DELETE is reserved to the retention purge'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- The one allowed UPDATE: chaining a row that is not chained yet. Such a row is only
    -- ever visible to the transaction that inserted it (the writer chains it before
    -- committing), which could have inserted any content in the first place; so the other
    -- columns need no comparison, and a committed row can never change again.
    IF OLD.seq IS NULL AND NEW.seq IS NOT NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_entries is append-only: only the commit-time chaining may update a row'
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""

RECORDS_GUARD = """
CREATE FUNCTION audit_records_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(current_setting('gateway.audit_purge', true), '') = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _entry_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("mailbox_id", sa.Uuid(), nullable=True),
        sa.Column("actor_kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("connection_id", sa.String(length=128), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=256), nullable=True),
        sa.Column("device_id", sa.String(length=128), nullable=True),
        sa.Column("protocol", sa.String(length=64), nullable=False),
        sa.Column("upstream_protocol", sa.String(length=64), nullable=True),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=True),
        sa.Column("resource_ids", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("policy_revision", sa.String(length=80), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", "occurred_at", name="pk_audit_entries"),
    ]


def _create_entry_indexes() -> None:
    op.create_index("ix_audit_entries_tenant_time", "audit_entries",
                    ["tenant_id", "occurred_at", "id"])
    op.create_index("ix_audit_entries_tenant_mailbox_time", "audit_entries",
                    ["tenant_id", "mailbox_id", "occurred_at", "id"])
    op.create_index("ix_audit_entries_tenant_actor_time", "audit_entries",
                    ["tenant_id", "actor_id", "occurred_at", "id"])
    op.create_index("ix_audit_entries_occurred_at", "audit_entries", ["occurred_at"])


def _month(value: datetime, plus: int = 0) -> datetime:
    index = value.year * 12 + value.month - 1 + plus
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _create_partitions(oldest: datetime | None) -> None:
    now = datetime.now(UTC)
    month = _month(min(oldest or now, now))
    op.execute(f'CREATE TABLE "{PARTITION_SCHEMA}".audit_entries_default '
               "PARTITION OF audit_entries DEFAULT WITH (fillfactor = 90)")
    while month <= _month(now, 3):
        upper = _month(month, 1)
        op.execute(
            f'CREATE TABLE "{PARTITION_SCHEMA}".audit_entries_p{month:%Y%m} '
            f"PARTITION OF audit_entries FOR VALUES FROM ('{month:%Y-%m-%d} 00:00:00+00') "
            f"TO ('{upper:%Y-%m-%d} 00:00:00+00') WITH (fillfactor = 90)")
        month = upper


def _chain_legacy_rows(bind: sa.engine.Connection, old: sa.Table, new: sa.Table) -> int:
    """Copy 0001's rows, chained into shard 0 in (occurred_at, id) order."""
    from gateway.audit.canonical import content_bytes_from_row, json_text, link_hash

    rows = bind.execute(sa.select(*[old.c[c] for c in CONTENT if c in old.c])
                        .order_by(old.c.occurred_at, old.c.id)).mappings().all()
    prev, seq, batch = GENESIS, 0, []
    for row in rows:
        values = {c: row.get(c) for c in CONTENT}
        for name in ("resource_ids", "reasons"):
            values[name] = list(values[name] or [])
        values["detail"] = dict(values["detail"] or {})
        for name in ("id", "tenant_id", "mailbox_id"):  # SQLite reflects UUIDs as CHAR(32)
            if isinstance(values[name], str):
                values[name] = uuid.UUID(values[name])
        seq += 1
        digest = link_hash(prev, seq, 0, content_bytes_from_row([values[c] for c in CONTENT]))
        # JSON columns are stored as their canonical text (the hash covers that text).
        batch.append({**values, "shard": 0, "seq": seq, "prev_hash": prev,
                      "entry_hash": digest,
                      **{c: json_text(values[c]) for c in ("resource_ids", "reasons", "detail")}})
        prev = digest
    if batch:
        postgres = bind.dialect.name == "postgresql"

        def json_param(name: str) -> sa.ColumnElement:
            param = sa.bindparam(name, type_=sa.Text)
            return sa.cast(param, sa.JSON) if postgres else param

        bind.execute(new.insert().values(
            **{c.name: sa.bindparam(c.name) for c in new.columns
               if c.name not in ("resource_ids", "reasons", "detail")},
            **{c: json_param(c) for c in ("resource_ids", "reasons", "detail")}), batch)
        bind.execute(sa.text("UPDATE audit_chain_heads SET seq = :seq, entry_hash = :hash "
                             "WHERE shard = 0"), {"seq": seq, "hash": prev})
    return seq


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"

    op.create_table(
        "audit_chain_heads",
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checkpoint_seq", sa.BigInteger(), nullable=False),
        sa.Column("checkpointed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_audit_chain_heads")),
    )
    heads = sa.table("audit_chain_heads", sa.column("shard"), sa.column("seq"),
                     sa.column("entry_hash"), sa.column("updated_at"),
                     sa.column("checkpoint_seq"))
    op.bulk_insert(heads, [{"shard": s, "seq": 0, "entry_hash": GENESIS,
                            "updated_at": datetime.now(UTC), "checkpoint_seq": 0}
                           for s in range(SHARDS)])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_index("ix_audit_checkpoints_shard_seq", "audit_checkpoints", ["shard", "seq"])
    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed", sa.BigInteger(), nullable=False),
        sa.Column("shards", sa.JSON(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_anchors")),
    )
    op.create_index(op.f("ix_audit_anchors_created_at"), "audit_anchors", ["created_at"])

    # Rebuild audit_entries (new key, nullable chain columns, partitioning on PostgreSQL).
    for name in ("ix_audit_entries_actor_time", "ix_audit_entries_occurred_at",
                 "ix_audit_entries_shard_seq", "ix_audit_entries_tenant_mailbox_time"):
        op.drop_index(name, table_name="audit_entries")
    op.rename_table("audit_entries", "audit_entries_0001")
    if postgres:
        op.execute("ALTER TABLE audit_entries_0001 RENAME CONSTRAINT pk_audit_entries "
                   "TO pk_audit_entries_0001")
        op.execute(f'CREATE SCHEMA IF NOT EXISTS "{PARTITION_SCHEMA}"')
        op.create_table("audit_entries", *_entry_columns(),
                        postgresql_partition_by="RANGE (occurred_at)")
        oldest = bind.execute(sa.text("SELECT min(occurred_at) FROM audit_entries_0001")).scalar()
        _create_partitions(oldest)
    else:
        op.create_table("audit_entries", *_entry_columns())
    _create_entry_indexes()
    old = sa.Table("audit_entries_0001", sa.MetaData(), autoload_with=bind)
    new = sa.Table("audit_entries", sa.MetaData(), *_entry_columns())
    _chain_legacy_rows(bind, old, new)
    op.drop_table("audit_entries_0001")

    if postgres:
        op.execute(ENTRIES_GUARD)
        op.execute("CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE "
                   "ON audit_entries FOR EACH ROW EXECUTE FUNCTION audit_entries_guard()")
        op.execute(RECORDS_GUARD)
        for table in ("audit_checkpoints", "audit_anchors"):
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE "
                       f"ON {table} FOR EACH ROW EXECUTE FUNCTION audit_records_guard()")


def downgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        for table in ("audit_entries", "audit_checkpoints", "audit_anchors"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_entries_guard()")
        op.execute("DROP FUNCTION IF EXISTS audit_records_guard()")
    for name in ("ix_audit_entries_tenant_time", "ix_audit_entries_tenant_mailbox_time",
                 "ix_audit_entries_tenant_actor_time", "ix_audit_entries_occurred_at"):
        op.drop_index(name, table_name="audit_entries")
    op.rename_table("audit_entries", "audit_entries_0003")
    if postgres:
        op.execute("ALTER TABLE audit_entries_0003 RENAME CONSTRAINT pk_audit_entries "
                   "TO pk_audit_entries_0003")
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("mailbox_id", sa.Uuid(), nullable=True),
        sa.Column("actor_kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("connection_id", sa.String(length=128), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=256), nullable=True),
        sa.Column("device_id", sa.String(length=128), nullable=True),
        sa.Column("protocol", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=True),
        sa.Column("resource_ids", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("policy_revision", sa.String(length=80), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    columns = ", ".join(c for c in CONTENT + CHAIN if c != "upstream_protocol")
    selected = ", ".join(
        {"shard": "coalesce(shard, 0)", "seq": "coalesce(seq, 0)",
         "prev_hash": "coalesce(prev_hash, ''::bytea)" if postgres else "coalesce(prev_hash, x'')",
         "entry_hash": "coalesce(entry_hash, ''::bytea)" if postgres
         else "coalesce(entry_hash, x'')"}.get(c, c)
        for c in CONTENT + CHAIN if c != "upstream_protocol")
    op.execute(f"INSERT INTO audit_entries ({columns}) SELECT {selected} FROM audit_entries_0003")
    op.drop_table("audit_entries_0003")
    if postgres:
        op.execute(f'DROP SCHEMA IF EXISTS "{PARTITION_SCHEMA}" CASCADE')
    op.create_index("ix_audit_entries_actor_time", "audit_entries", ["actor_id", "occurred_at"])
    op.create_index(op.f("ix_audit_entries_occurred_at"), "audit_entries", ["occurred_at"])
    op.create_index("ix_audit_entries_shard_seq", "audit_entries", ["shard", "seq"], unique=True)
    op.create_index("ix_audit_entries_tenant_mailbox_time", "audit_entries",
                    ["tenant_id", "mailbox_id", "occurred_at"])
    op.drop_index(op.f("ix_audit_anchors_created_at"), table_name="audit_anchors")
    op.drop_table("audit_anchors")
    op.drop_index("ix_audit_checkpoints_shard_seq", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain_heads")
