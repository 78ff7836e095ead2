"""Operation log: link a transaction's entries to a chain in one server-side call.

`audit_chain_link(contents, ids, times, now)` takes a free chain head (`FOR UPDATE SKIP
LOCKED`, random order; if every head is being committed, it waits for one), links the given
entries to it in order (SHA-256 over the same bytes `gateway.audit.canonical.link_hash`
hashes), moves the head and returns it (recreating the 8 default heads if the table was
emptied, so it never returns without linking). It replaces a CTE sent by the client: one round trip
for any number of entries, and, because it runs with `plan_cache_mode = force_generic_plan`,
the UPDATE on the partitioned table is planned once per session instead of on every commit
(a custom plan for a partitioned UPDATE cost ~0.25 ms of server time per append).

Invoker's rights on purpose: the function can do nothing the caller could not do itself, so
the grants documented in docs/audit.md keep their meaning (revoking UPDATE on the heads still
refuses every request).

PostgreSQL only; SQLite keeps chaining in Python.

Revision ID: 0011_audit_perf
Revises: 0010_justifications
Create Date: 2026-11-22 12:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0011_audit_perf"
down_revision: str | None = '0010_justifications'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAIN_LINK = r"""
CREATE FUNCTION audit_chain_link(p_contents bytea[], p_ids uuid[], p_times timestamptz[],
                                 p_now timestamptz,
                                 OUT shard integer, OUT seq bigint, OUT entry_hash bytea,
                                 OUT checkpoint_seq bigint, OUT checkpointed_at timestamptz,
                                 OUT linked integer)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    h record;
    next_seq bigint;
    digest bytea;
    last_hash bytea;
    i integer;
BEGIN
    linked := 0;
    SELECT c.shard, c.seq, c.entry_hash, c.checkpoint_seq, c.checkpointed_at INTO h
    FROM audit_chain_heads c ORDER BY pg_catalog.random() LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        -- Every head is being committed right now (each is held for one commit): wait for one.
        SELECT c.shard, c.seq, c.entry_hash, c.checkpoint_seq, c.checkpointed_at INTO h
        FROM audit_chain_heads c ORDER BY pg_catalog.random() LIMIT 1 FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        -- The heads table was emptied: recreate the default chains (entries of the old chains
        -- then collide with the new positions, and verification reports it).
        INSERT INTO audit_chain_heads AS c (shard, seq, entry_hash, updated_at, checkpoint_seq)
        SELECT s, 0, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'), p_now, 0
        FROM pg_catalog.generate_series(0, 7) AS s
        ON CONFLICT DO NOTHING;
        SELECT c.shard, c.seq, c.entry_hash, c.checkpoint_seq, c.checkpointed_at INTO h
        FROM audit_chain_heads c ORDER BY pg_catalog.random() LIMIT 1 FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no operation-log chain is available';
        END IF;
    END IF;
    shard := h.shard;
    seq := h.seq;
    last_hash := h.entry_hash;
    checkpoint_seq := h.checkpoint_seq;
    checkpointed_at := h.checkpointed_at;
    FOR i IN 1 .. coalesce(pg_catalog.array_length(p_ids, 1), 0) LOOP
        next_seq := seq + 1;
        digest := pg_catalog.sha256(last_hash || pg_catalog.int8send(next_seq)
                                    || pg_catalog.int4send(h.shard) || p_contents[i]);
        UPDATE audit_entries AS e
        SET shard = h.shard, seq = next_seq, prev_hash = last_hash, entry_hash = digest
        WHERE e.id = p_ids[i] AND e.occurred_at = p_times[i] AND e.seq IS NULL;
        IF FOUND THEN  -- not found: rolled back with a savepoint, nothing to link
            seq := next_seq;
            last_hash := digest;
            linked := linked + 1;
        END IF;
    END LOOP;
    IF linked > 0 THEN
        UPDATE audit_chain_heads AS c
        SET seq = audit_chain_link.seq, entry_hash = last_hash, updated_at = p_now
        WHERE c.shard = h.shard;
    END IF;
    entry_hash := last_hash;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CHAIN_LINK)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS audit_chain_link(bytea[], uuid[], timestamptz[], "
               "timestamptz)")
