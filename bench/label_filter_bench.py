"""Label filters on PostgreSQL: the per-mailbox label index (migration 0014) vs the LIKE walk.

    source scripts/lib.sh && ensure_postgres_running
    GATEWAY_TEST_DATABASE_URL=postgresql+psycopg://gateway@127.0.0.1:55432/postgres \\
        .venv/bin/python bench/label_filter_bench.py [--messages 50000] [--runs 50]

A fresh migrated database (dropped afterwards) gets three mailboxes of `--messages` messages each
(rows inserted by SQL with placeholder sealed columns: the query reads ids and dates only).
Labels of the measured mailbox: INBOX on every message, UNREAD and Label_1 on a third each,
Label_9 on 10 messages, Label_404 on none. For each label, the first page of the message list
(`mailbox_id = ? AND <label> ORDER BY internal_date DESC, id DESC LIMIT 51`, what
`GET /v1/mailboxes/{id}/messages?label=` runs) is timed `--runs` times, through the gateway's
`has_label` and through an escaped LIKE on the label JSON text, in the same process and database,
with
PostgreSQL's own execution time (EXPLAIN ANALYZE) and the plan's index beside. Prints numbers;
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Text, cast, create_engine, select
from sqlalchemy.dialects import postgresql

from gateway.mail.models import Message
from gateway.mail.read.repository import has_label

LABELS = ("INBOX", "UNREAD", "Label_1", "Label_9", "Label_404")

SEED = """
INSERT INTO messages (id, tenant_id, mailbox_id, gmail_id, thread_id, history_id, internal_date,
                      label_ids, size_estimate, attachment_count, summary, body, raw, stored_at)
SELECT gen_random_uuid(), %(tenant)s, %(mailbox)s, to_hex(n), to_hex(n / 3), n,
       now() - make_interval(mins => n),
       CASE WHEN n %% 5000 = 7 THEN '["INBOX", "Label_9"]'
            WHEN n %% 3 = 0 THEN '["INBOX", "UNREAD", "Label_1"]'
            ELSE '["INBOX", "CATEGORY_UPDATES"]' END::json,
       1000, 0, '\\x00', '\\x00', '\\x00', now()
FROM generate_series(1, %(count)s) AS n
"""


def seed(url: str, messages: int) -> uuid.UUID:
    from gateway.accounts import service as accounts
    from gateway.kit.db import Database
    from gateway.mailboxes.models import Mailbox

    db = Database.from_url(url)
    try:
        with db.transaction() as s:
            tenant = accounts.create_tenant(s, "label-bench")
            owner = accounts.create_principal(s, tenant, "end_user", "owner@bench.example")
            boxes = [Mailbox(tenant_id=tenant.id, owner_principal_id=owner.id,
                             granted_scopes=[]) for _ in range(3)]
            s.add_all(boxes)
            s.flush()
            tenant_id, box_ids = tenant.id, [b.id for b in boxes]
    finally:
        db.dispose()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for box in box_ids:
            conn.exec_driver_sql(SEED, {"tenant": tenant_id, "mailbox": box, "count": messages})
        conn.exec_driver_sql("VACUUM ANALYZE messages")
    engine.dispose()
    return box_ids[1]


def page(mailbox: uuid.UUID, condition: Any) -> Any:
    return (select(Message.id).where(Message.mailbox_id == mailbox, condition)
            .order_by(Message.internal_date.desc(), Message.id.desc()).limit(51))


def measure(url: str, mailbox: uuid.UUID, runs: int) -> None:
    engine = create_engine(url)
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    print(f"{'label':<10} {'path':<6} {'rows':>5} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'server ms':>10}  plan")
    with engine.connect() as conn:
        for label in LABELS:
            paths = {"index": has_label(label, mailbox),
                     "like": cast(Message.label_ids, Text).contains(f'"{label}"',
                                                                  autoescape=True)}
            results = {}
            for name, condition in paths.items():
                query = page(mailbox, condition)
                rows = len(conn.execute(query).all())
                samples = []
                for _ in range(runs):
                    start = time.perf_counter()
                    conn.execute(query).all()
                    samples.append((time.perf_counter() - start) * 1000)
                sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
                plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT TEXT) " + sql)]
                server = next((float(p.split(":")[1].split()[0]) for p in plan
                               if p.startswith("Execution Time")), float("nan"))
                used = ("label index" if any("ix_messages_mailbox_labels" in p for p in plan)
                        else "date index walk" if any("ix_messages_mailbox_date" in p
                                                      for p in plan) else "other")
                samples.sort()
                results[name] = statistics.median(samples)
                print(f"{label:<10} {name:<6} {rows:>5} {statistics.median(samples):>8.2f} "
                      f"{samples[int(len(samples) * 0.99) - 1]:>8.2f} {server:>10.2f}  {used}")
            print(f"{'':<10} like / index p50: {results['like'] / results['index']:.1f}x")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=50_000, help="messages per mailbox")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    admin_url = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    if not admin_url:
        raise SystemExit("set GATEWAY_TEST_DATABASE_URL to a PostgreSQL admin URL")
    from tests.support.database import migrated_database

    with migrated_database(admin_url, "gw_bench_labels") as url:
        started = time.perf_counter()
        mailbox = seed(url, args.messages)
        print(f"seeded 3 mailboxes x {args.messages:,} messages in "
              f"{time.perf_counter() - started:.1f} s; load {os.getloadavg()[0]:.2f}")
        measure(url, mailbox, args.runs)


if __name__ == "__main__":
    main()
