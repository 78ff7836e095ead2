"""Operation log: insert entries already chained, many per transaction, in one server call.

`audit_append(rows, now)` is the path of entries that commit in a transaction of their own
(denials, upstream-effect allows, refusals), used by the group appender
(`gateway.audit.group_commit`): it takes a free chain head (`FOR UPDATE SKIP LOCKED`, random
order; if every head is being committed, it waits for one; if there is no head at all it
recreates the 8 default ones), computes each entry's SHA-256 link over the
same bytes `gateway.audit.canonical.link_hash` hashes, INSERTs the rows with their chain
position (no second UPDATE pass: the rows are written once), moves the head and returns it.
Called as one extended-protocol statement in autocommit mode, the call *is* the transaction:
one round trip, committed when it returns, the head lock never leaving the server.

`rows` is one JSON array per entry: the 22 columns of `pg_fastpath.INSERT_COLUMNS` in order as
text (uuids and times in their text form, the JSON columns as their canonical stored text) and,
last, the canonical content bytes in hex. One text parameter instead of an array per column:
psycopg adapts a 22-column batch of Python lists in milliseconds, a JSON document in
microseconds.

Same rights model as `audit_chain_link` (0011): invoker's rights, so revoking INSERT on
`audit_entries` or UPDATE on the heads refuses it; generic plan, planned once per session.

Also: the append-only trigger on `audit_entries` is split in two, its UPDATE half with a
`WHEN` condition, so the one allowed UPDATE (chaining a row that is not chained yet, at the
commit of the transaction that inserted it) no longer calls the plpgsql guard: that call was
20-25 us of the chaining UPDATE's ~70-100 us of server time. The guard function is the same
and every other UPDATE or DELETE still reaches it and is refused exactly as before.

PostgreSQL only.

Revision ID: 0013_audit_append
Revises: 0012_webhooks
Create Date: 2026-11-22 12:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0013_audit_append"
down_revision: str | None = "0012_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = "jsonb, timestamptz"

APPEND = r"""
CREATE FUNCTION audit_append(p_rows jsonb, p_now timestamptz,
                             OUT shard integer, OUT seq bigint, OUT entry_hash bytea,
                             OUT checkpoint_seq bigint, OUT checkpointed_at timestamptz)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    h record;
    n integer;
    i integer;
    last_hash bytea;
    seqs bigint[];
    prevs bytea[];
    hashes bytea[];
BEGIN
    n := coalesce(pg_catalog.jsonb_array_length(p_rows), 0);
    IF n = 0 THEN
        RAISE EXCEPTION 'audit_append: no entries';
    END IF;
    SELECT c.shard, c.seq, c.entry_hash, c.checkpoint_seq, c.checkpointed_at INTO h
    FROM audit_chain_heads c ORDER BY pg_catalog.random() LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        -- Every head is being committed right now (each is held for one commit): wait for one.
        SELECT c.shard, c.seq, c.entry_hash, c.checkpoint_seq, c.checkpointed_at INTO h
        FROM audit_chain_heads c ORDER BY pg_catalog.random() LIMIT 1 FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
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
    last_hash := h.entry_hash;
    FOR i IN 1 .. n LOOP
        seqs[i] := h.seq + i;
        prevs[i] := last_hash;
        last_hash := pg_catalog.sha256(
            last_hash || pg_catalog.int8send(h.seq + i) || pg_catalog.int4send(h.shard)
            || pg_catalog.decode(p_rows -> (i - 1) ->> 22, 'hex'));
        hashes[i] := last_hash;
    END LOOP;
    INSERT INTO audit_entries (
        id, occurred_at, shard, seq, prev_hash, entry_hash, request_id, tenant_id, mailbox_id,
        actor_kind, actor_id, connection_id, client_ip, user_agent, device_id, protocol,
        upstream_protocol, operation, action, purpose, resource_type, resource_ids, decision,
        reasons, policy_revision, detail)
    SELECT (e.r ->> 0)::uuid, (e.r ->> 1)::timestamptz, h.shard, seqs[e.o], prevs[e.o],
           hashes[e.o], e.r ->> 2, (e.r ->> 3)::uuid, (e.r ->> 4)::uuid, e.r ->> 5,
           e.r ->> 6, e.r ->> 7, e.r ->> 8, e.r ->> 9, e.r ->> 10, e.r ->> 11, e.r ->> 12,
           e.r ->> 13, e.r ->> 14, e.r ->> 15, e.r ->> 16, (e.r ->> 17)::json, e.r ->> 18,
           (e.r ->> 19)::json, e.r ->> 20, (e.r ->> 21)::json
    FROM pg_catalog.jsonb_array_elements(p_rows) WITH ORDINALITY AS e(r, o);
    UPDATE audit_chain_heads AS c
    SET seq = h.seq + n, entry_hash = last_hash, updated_at = p_now
    WHERE c.shard = h.shard;
    shard := h.shard;
    seq := h.seq + n;
    entry_hash := last_hash;
    checkpoint_seq := h.checkpoint_seq;
    checkpointed_at := h.checkpointed_at;
END
$$
"""


TRIGGERS = (
    "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries "
    "FOR EACH ROW EXECUTE FUNCTION audit_entries_guard()",
    # Evaluated by the executor without calling plpgsql; the guard allows exactly this case.
    "CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries FOR EACH ROW "
    "WHEN (NOT (OLD.seq IS NULL AND NEW.seq IS NOT NULL)) "
    "EXECUTE FUNCTION audit_entries_guard()",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(APPEND)
    op.execute("DROP TRIGGER audit_entries_append_only ON audit_entries")
    for statement in TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS audit_entries_no_update ON audit_entries")
    op.execute("DROP TRIGGER IF EXISTS audit_entries_no_delete ON audit_entries")
    op.execute("CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE "
               "ON audit_entries FOR EACH ROW EXECUTE FUNCTION audit_entries_guard()")
    op.execute(f"DROP FUNCTION IF EXISTS audit_append({SIGNATURE})")
