"""Messages: an index that finds a mailbox's messages with a given label without walking it.

Label filters (`GET /v1/mailboxes/{id}/messages?label=...`, threads, the contact timeline) used
to walk the mailbox newest first and test each row's `label_ids` JSON text with a LIKE: cheap
for a common label, a scan of the whole mailbox for a rare one (measured on 50,000 messages a
mailbox: 21 ms for a label on 10 of them). Label ids are only meaningful per mailbox (every
account has its own `Label_1`), so the index keys are `<mailbox id>:<label id>`:

    gw_mailbox_label_keys(mailbox_id, label_ids) -> text[]   (IMMUTABLE SQL function)
    GIN index ix_messages_mailbox_labels on that expression

`gateway.mail.read.repository.has_label` asks `gw_mailbox_label_keys(...) @> ARRAY['<mailbox>:<label>']`
on PostgreSQL; the planner, with the statistics ANALYZE keeps on the expression, takes the index
for a rare label (0.08 ms on the same data) and keeps walking the (mailbox, date) index for a
common one (INBOX: 0.35 ms). SQLite keeps the LIKE (the demo's store).

The index is built CONCURRENTLY (outside the migration's transaction) so that an upgrade does
not block message writes on a large table. PostgreSQL only.

Revision ID: 0014_message_label_index
Revises: 0013_audit_append
Create Date: 2026-11-22 14:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0014_message_label_index"
down_revision: str | None = "0013_audit_append"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION gw_mailbox_label_keys(mailbox uuid, labels json) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(mailbox::text || ':' || label), '{}')
    FROM json_array_elements_text(
        CASE WHEN json_typeof(labels) = 'array' THEN labels ELSE '[]'::json END) AS label
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_messages_mailbox_labels ON "
                   "messages USING gin (gw_mailbox_label_keys(mailbox_id, label_ids))")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_messages_mailbox_labels")
    op.execute("DROP FUNCTION IF EXISTS gw_mailbox_label_keys(uuid, json)")
