"""The capacity plan's arithmetic: from measured per-unit costs to replicas, workers, OPA sidecars,
PostgreSQL and Gmail quota for 10k, 100k and 1M connected mailboxes (docs/deploy.md, "Capacity").

    .venv/bin/python bench/capacity_plan.py                      # the plan from the inputs below
    .venv/bin/python bench/capacity_plan.py --measure 500   # measure storage first (PostgreSQL)
    .venv/bin/python bench/capacity_plan.py --reads-per-day 300 --new-per-day 80   # other traffic

Inputs are the figures docs/benchmarks.md gives with the command that measured each; `--measure N`
re-measures the storage inputs on this machine: it syncs N emulator messages into a fresh
PostgreSQL database through a real worker and divides the tables' sizes (with indexes and TOAST)
by what they hold. The traffic (messages per mailbox, new mail and reads per day, the peak
factor) is an assumption, stated on the command line and printed with the plan.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DAY = 86_400.0
GMAIL_PROJECT_UNITS_PER_MINUTE = 1_200_000  # Gmail API quota per Google Cloud project
GMAIL_USER_UNITS_PER_SECOND = 250  # per user


@dataclass(frozen=True)
class Measured:
    """Per-unit costs on the development machine's cores (docs/benchmarks.md)."""

    read_gateway_cpu_ms: float = 4.1  # guarded read, gateway (mail_read_bench, 10 clients)
    read_postgres_cpu_ms: float = 0.7  # same, PostgreSQL
    decision_opa_cpu_ms: float = 0.53  # OPA sidecar per decision (policy_bench, upper end)
    sync_worker_cpu_ms: float = 3.7  # per synced message end to end (sync_bench --phase ingest)
    sync_postgres_cpu_ms: float = 1.45  # same, PostgreSQL (upper end)
    log_append_cpu_ms: float = 0.23  # per log entry, group commit (audit_bench)
    log_appends_per_second_one_server: float = 6_786  # 2 vCPUs, fsync on, 64 writers (audit_bench)
    units_per_message: float = 5.011  # full sync: 50,110 units for 10,000 messages (sync_bench)
    bytes_per_message: float = 119_300.0  # sealed message with its indexes (--measure 500)
    bytes_per_log_entry: float = 1_040.0  # a guarded read's entry with indexes (--measure 500)
    log_entries_per_synced_message: float = 0.036  # one per batch and list page (--measure)


@dataclass(frozen=True)
class Traffic:
    messages_per_mailbox: int = 20_000
    new_messages_per_day: float = 60.0
    reads_per_day: float = 200.0  # guarded CRM reads per mailbox per day
    peak_factor: float = 3.0  # busiest hour's rate over the day's average
    core_utilisation: float = 0.6  # how full a core may run at the peak


def plan(mailboxes: int, m: Measured, t: Traffic) -> dict[str, float]:
    reads_per_s = mailboxes * t.reads_per_day / DAY * t.peak_factor
    synced_per_s = mailboxes * t.new_messages_per_day / DAY * t.peak_factor
    log_per_s = reads_per_s + synced_per_s * m.log_entries_per_synced_message
    api_cores = reads_per_s * m.read_gateway_cpu_ms / 1000 / t.core_utilisation
    opa_cores = reads_per_s * m.decision_opa_cpu_ms / 1000 / t.core_utilisation
    worker_cores = synced_per_s * m.sync_worker_cpu_ms / 1000 / t.core_utilisation
    pg_cores = (reads_per_s * m.read_postgres_cpu_ms + synced_per_s * m.sync_postgres_cpu_ms
                + log_per_s * m.log_append_cpu_ms) / 1000 / t.core_utilisation
    log_entries_day = (mailboxes * t.reads_per_day
                       + mailboxes * t.new_messages_per_day * m.log_entries_per_synced_message)
    initial_units = mailboxes * t.messages_per_mailbox * m.units_per_message
    return {
        "reads/s at peak": reads_per_s,
        "synced messages/s at peak": synced_per_s,
        "log appends/s at peak": log_per_s,
        "gateway replicas (2 cores each)": max(2, math.ceil(api_cores / 2)),
        "OPA sidecars (one per replica)": max(2, math.ceil(api_cores / 2)),
        "OPA cores in all": opa_cores,
        "worker processes (1 core each)": max(2, math.ceil(worker_cores)),
        "PostgreSQL cores at peak": pg_cores,
        "mail storage (TB)": mailboxes * t.messages_per_mailbox * m.bytes_per_message / 1e12,
        "log entries per day (millions)": log_entries_day / 1e6,
        "log after one year (TB)": log_entries_day * 365 * m.bytes_per_log_entry / 1e12,
        "initial sync at the project quota (days)":
            initial_units / GMAIL_PROJECT_UNITS_PER_MINUTE / 60 / 24,
        "one mailbox's initial sync at the user quota (minutes)":
            t.messages_per_mailbox * m.units_per_message / GMAIL_USER_UNITS_PER_SECOND / 60,
    }


def limits(row: dict[str, float], m: Measured) -> list[str]:
    """Where one PostgreSQL server stops being enough, and what takes over."""
    notes = []
    if row["log appends/s at peak"] > 0.5 * m.log_appends_per_second_one_server:
        notes.append("log appends exceed half of one server's measured group-commit rate: "
                     "shard by tenant")
    if row["PostgreSQL cores at peak"] > 32:
        notes.append("over 32 PostgreSQL cores: shard by tenant (a distributed PostgreSQL)")
    elif row["PostgreSQL cores at peak"] > 8:
        notes.append("reviewer queries and exports to a read replica")
    if row["mail storage (TB)"] + row["log after one year (TB)"] > 20:
        notes.append("over 20 TB on one server: shard by tenant")
    return notes or ["one PostgreSQL server (with a standby) suffices"]


def sharding_report() -> list[str]:
    """Which tables a distribution by tenant would have to change (keys without tenant_id)."""
    from gateway.kit.models import Base
    from gateway.kit.schema import load_all_models

    load_all_models()
    lines = []
    for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
        columns = {c.name for c in table.columns}
        key = [c.name for c in table.primary_key.columns]
        if "tenant_id" not in columns:
            lines.append(f"  {table.name}: no tenant_id (reference table, or co-locate through "
                         f"{'mailbox_id' if 'mailbox_id' in columns else 'its parent'})")
        elif "tenant_id" not in key:
            lines.append(f"  {table.name}: primary key {key} must include tenant_id")
    return lines


def measure(messages: int, reads: int, m: Measured) -> Measured:
    """Sync `messages` emulator messages into a fresh database and size what they occupy."""
    from bench.sync_world import bench_world

    with bench_world() as bench:
        emu = bench.emu
        emu.set_settings(quota_enabled=False)
        # A first, small mailbox fills each table's and index's first pages, so the sizes
        # measured below grow with the data, not with an empty table's fixed overhead.
        synced_fully(bench, bench.mailbox("warm-up@example.com", 50, seed=3))
        before = sizes_now(bench)
        mailbox_id = bench.mailbox("capacity@example.com", messages, seed=11)
        synced_fully(bench, mailbox_id)
        synced = sizes_now(bench)
        listing = bench.api.get(f"/v1/mailboxes/{mailbox_id}/messages", params={"limit": 200},
                                headers=bench.headers).json()["items"]
        for item in listing * max(1, reads // max(len(listing), 1)):
            bench.api.get(f"/v1/mailboxes/{mailbox_id}/messages/{item['id']}",
                          headers=bench.headers)
        read = sizes_now(bench)
    stored = synced["messages_count"] - before["messages_count"]
    mail = synced["mail"] - before["mail"]
    sync_entries = synced["entries"] - before["entries"]
    read_entries = read["entries"] - synced["entries"]
    audit = read["audit"] - synced["audit"]
    print(f"measured: {stored} messages stored in {mail / 1e6:.1f} MB of mail tables "
          f"({mail / max(stored, 1):,.0f} bytes each) with {sync_entries} log entries; "
          f"{read_entries} guarded reads added {audit / 1e6:.2f} MB of log "
          f"({audit / max(read_entries, 1):,.0f} bytes per entry)")
    return replace(m, bytes_per_message=mail / max(stored, 1),
                   bytes_per_log_entry=audit / max(read_entries, 1),
                   log_entries_per_synced_message=sync_entries / max(stored, 1))


def synced_fully(bench: Any, mailbox_id: Any, timeout: float = 600) -> None:
    """Run one worker until the mailbox's full sync has succeeded (or `timeout` passed)."""
    import time

    with bench.workers(1, 1, {}) as workers:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = bench.states().get(mailbox_id)
            if state is not None and state.last_success_at is not None:
                break
            time.sleep(0.5)
        workers.close()


def sizes_now(bench: Any) -> dict[str, int]:
    """Bytes in the mail and log tables (with indexes and TOAST), messages and log entries."""
    from sqlalchemy import text

    with bench.db.engine.connect() as conn:
        sizes = dict(conn.execute(text(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN ('public', 'audit_partitions') AND c.relkind = 'r'")).all())
        return {
            "messages_count": conn.execute(text("SELECT count(*) FROM messages")).scalar_one(),
            "entries": conn.execute(text("SELECT count(*) FROM audit_entries")).scalar_one(),
            "audit": sum(v for k, v in sizes.items() if k.startswith("audit_")),
            "mail": sum(v for k, v in sizes.items()
                        if k in ("messages", "message_addresses", "labels", "sync_seen")),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", type=int, metavar="N", default=0,
                        help="first measure storage by syncing N emulator messages")
    parser.add_argument("--measure-reads", type=int, default=2000,
                        help="with --measure: guarded reads whose log entries are sized")
    parser.add_argument("--messages-per-mailbox", type=int, default=Traffic.messages_per_mailbox)
    parser.add_argument("--new-per-day", type=float, default=Traffic.new_messages_per_day)
    parser.add_argument("--reads-per-day", type=float, default=Traffic.reads_per_day)
    parser.add_argument("--peak-factor", type=float, default=Traffic.peak_factor)
    args = parser.parse_args()
    measured = measure(args.measure, args.measure_reads, Measured()) if args.measure else Measured()
    traffic = Traffic(messages_per_mailbox=args.messages_per_mailbox,
                      new_messages_per_day=args.new_per_day, reads_per_day=args.reads_per_day,
                      peak_factor=args.peak_factor)
    print(f"inputs: {measured}\ntraffic: {traffic}\n")
    scales = (10_000, 100_000, 1_000_000)
    rows = {n: plan(n, measured, traffic) for n in scales}
    width = max(len(k) for k in rows[scales[0]])
    print(f"{'':{width}}  " + "  ".join(f"{n:>12,}" for n in scales))
    for key in rows[scales[0]]:
        print(f"{key:{width}}  " + "  ".join(f"{rows[n][key]:>12,.1f}" for n in scales))
    print()
    for n in scales:
        print(f"{n:,} mailboxes: " + "; ".join(limits(rows[n], measured)))
    print("\nsharding by tenant (a distributed PostgreSQL such as Citus) would change:")
    print("\n".join(sharding_report()))


if __name__ == "__main__":
    main()
