"""Append throughput through the operation log's real paths, against the same row inserted
without the log (bench/audit_bench.py, step 2): writer processes, and writer threads in two
processes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import MetaData, Table, insert

from bench.audit_world import CHECKPOINT_EVERY, MAILBOXES_PER_TENANT, TENANTS, libpq_url, world
from gateway.audit.canonical import (
    json_text,
)
from gateway.audit.chain import CheckpointPolicy
from gateway.audit.signing import AuditSigner
from gateway.audit.writer import LogRecord, OperationLog
from gateway.kit.db import Database

# --- appends ------------------------------------------------------------------------------------

MODES = {
    "plain": "baseline (plain INSERT, no log)",
    "append": "append (in the request's transaction)",
    "committed": "append_committed (own transaction)",
}


def bench_record(tenant: dict[str, Any], rng: random.Random, *, decision: str = "allow",
                 reason: str = "allow_crm_service") -> LogRecord:
    """One operation-log record as the CRM's content read produces it (random ids)."""
    return LogRecord(
        request_id=f"bench-{rng.getrandbits(48):012x}", actor_kind="crm_service",
        actor_id=tenant["crm"], connection_id="api_key:gw_bench", protocol="https/rest 1.1",
        operation="mail:message:read_content", action="mail.message.read_content",
        purpose="user_facing", decision=decision, reasons=(reason,),
        policy_revision="bench-rev-1", tenant_id=tenant["id"],
        mailbox_id=tenant["mailboxes"][rng.randrange(MAILBOXES_PER_TENANT)],
        client_ip="10.1.2.3", user_agent="crm-backend/4.2", resource_type="message",
        resource_ids=(f"{rng.getrandbits(64):016x}",))


def append_worker(url: str, key: bytes, seconds: float, ready: Any, go: Any,
                  out: Any, mode: str = "append") -> None:
    """One writer process: set up and warm its connection, say it is ready, wait for the
    common start, then write one entry per transaction for `seconds`. Reports its count
    and how long it really ran (a process that starts late on a loaded machine must not
    count as idle time). `mode`: `append` is `OperationLog.append` in a transaction of
    the caller's (a request's allow), `committed` is `OperationLog.append_committed` (a
    denial; one writer thread, so nothing to group), `plain` the baseline."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gateway.audit import group_commit

    signer = AuditSigner(Ed25519PrivateKey.from_private_bytes(key))
    log = OperationLog(checkpoints=CheckpointPolicy(signer, every=CHECKPOINT_EVERY,
                                                    seconds=60))
    database = Database.from_url(url, pool_size=2 if mode == "committed" else 1,
                                 max_overflow=0)
    baseline_insert = insert(Table("bench_baseline", MetaData(), autoload_with=database.engine))
    tenant = world()["tenants"][os.getpid() % TENANTS]
    rng = random.Random(os.getpid())

    def one() -> None:
        record = bench_record(tenant, rng)
        if mode == "committed":
            log.append_committed(database, record)
            return
        with database.transaction() as session:
            if mode == "append":
                log.append(session, record)
            else:  # the same row through the same stack into a table without the log
                session.connection().execute(baseline_insert, log.values(record))

    for _ in range(10):  # connect, and let psycopg prepare its statements
        one()
    if mode == "committed":
        appender = group_commit.for_engine(database.engine)
        backend = appender._connection.dbapi_connection.info.backend_pid  # type: ignore
    else:
        with database.engine.connect() as conn:
            backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    ready.put(1)
    go.wait()
    count = 0
    cpu = (time.process_time(), backend_cpu(backend))
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        one()
        count += 1
    elapsed = time.perf_counter() - started
    out.put((count, elapsed, time.process_time() - cpu[0], backend_cpu(backend) - cpu[1]))
    group_commit.for_engine(database.engine).close()
    database.dispose()


def backend_cpu(pid: Any) -> float:
    """CPU seconds used by a local PostgreSQL backend (NaN if the server is elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_together(target: Any, processes: int, *args: Any, **tail: Any) -> list[Any]:
    """Fork `processes` workers `target(*args, ready, go, out, *tail.values())`, start them
    at once when all are ready, and return what each put on `out`."""
    ctx = mp.get_context("fork")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=target, args=(*args, ready, go, out, *tail.values()))
             for _ in range(processes)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get()
    go.set()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return results


def appends(url: str, key: bytes, writers: int, seconds: float, mode: str = "append") -> float:
    results = run_together(append_worker, writers, url, key, seconds, mode=mode)
    total = sum(r[0] for r in results)
    # Each writer's own rate over the time it really ran, summed.
    rate = sum(count / elapsed for count, elapsed, _, _ in results)
    seconds = max(r[1] for r in results)
    client_us = sum(r[2] for r in results) / max(total, 1) * 1e6
    server_us = sum(r[3] for r in results) / max(total, 1) * 1e6
    what = MODES[mode]
    print(f"{what}: {writers:2d} writer process(es): {total:7,} in {seconds:.0f}s "
          f"= {rate:7,.0f}/s; CPU per transaction: client {client_us:4.0f} us + "
          f"server {server_us:4.0f} us   (load average {os.getloadavg()[0]:.1f})")
    return rate


def compare_appends(url: str, key: bytes, writers: int, seconds: float, repeat: int) -> None:
    """The log against the same-process baseline, alternating so drift on a shared machine
    hits both alike; prints the ranges and the ratio."""
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(repeat):
        for mode in MODES:
            rates[mode].append(appends(url, key, writers, seconds, mode))
    plain = rates["plain"]
    for mode in ("append", "committed"):
        logged = rates[mode]
        ratios = sorted(a / b for a, b in zip(logged, plain, strict=True) if b)
        print(f"== {writers:2d} writer process(es): {mode} {min(logged):,.0f}-"
              f"{max(logged):,.0f}/s, plain insert {min(plain):,.0f}-{max(plain):,.0f}/s, "
              f"{mode}/plain ratio {statistics.median(ratios):.2f} "
              f"(range {ratios[0]:.2f}-{ratios[-1]:.2f})")


def floors(url: str, seconds: float) -> None:
    """What one writer cannot beat on this machine, in this process: a bare round trip
    (`SELECT 1`) and the same row inserted with a prepared statement on a raw psycopg
    connection in autocommit (one durable row per call, no SQLAlchemy, no log)."""
    from gateway.audit.pg_fastpath import INSERT_COLUMNS

    log = OperationLog()
    tenant = world()["tenants"][0]
    rng = random.Random(5)
    columns = ", ".join(INSERT_COLUMNS)
    placeholders = ", ".join("%s::json" if c in {"resource_ids", "reasons", "detail"}
                             else "%s" for c in INSERT_COLUMNS)
    statement = f"INSERT INTO bench_baseline ({columns}) VALUES ({placeholders})"

    def row() -> list[Any]:
        values = log.values(bench_record(tenant, rng))
        return [json_text(values[c]) if c in {"resource_ids", "reasons", "detail"}
                else values[c] for c in INSERT_COLUMNS]

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        backend = conn.info.backend_pid
        for name, call in (("round trip (SELECT 1)", lambda: conn.execute("SELECT 1")),
                           ("raw prepared INSERT, autocommit",
                            lambda: conn.execute(statement, row(), prepare=True))):
            for _ in range(20):
                call()
            count = 0
            cpu = (time.process_time(), backend_cpu(backend))
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                call()
                count += 1
            elapsed = time.perf_counter() - started
            client = (time.process_time() - cpu[0]) / count * 1e6
            server = (backend_cpu(backend) - cpu[1]) / count * 1e6
            print(f"floor, 1 writer: {name}: {count / elapsed:7,.0f}/s; CPU per call: client "
                  f"{client:4.0f} us + server {server:4.0f} us   "
                  f"(load average {os.getloadavg()[0]:.1f})")


def thread_worker(url: str, key: bytes, seconds: float, threads: int, ready: Any, go: Any,
                  out: Any, chained: bool = True) -> None:
    """One gateway-like process with `threads` concurrent writers (request threads): each
    writes one entry per call through `OperationLog.append_committed` (the entry committed
    in a transaction of its own, as a denial is; concurrent calls are group-committed), or,
    for the baseline, the same row inserted through the same stack into a table without the
    log, one transaction per call. Reports entries, elapsed, process CPU, backend CPU."""
    import threading

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gateway.audit import group_commit

    signer = AuditSigner(Ed25519PrivateKey.from_private_bytes(key))
    log = OperationLog(checkpoints=CheckpointPolicy(signer, every=CHECKPOINT_EVERY,
                                                    seconds=60))
    database = Database.from_url(url, pool_size=threads + 1, max_overflow=0)
    baseline_insert = insert(Table("bench_baseline", MetaData(), autoload_with=database.engine))
    tenant = world()["tenants"][os.getpid() % TENANTS]

    def one(rng: random.Random) -> None:
        record = bench_record(tenant, rng, decision="deny", reason="scope_not_granted")
        if chained:
            log.append_committed(database, record)
        else:
            with database.transaction() as session:
                connection = session.connection()
                connection.execute(baseline_insert, log.values(record))
                if warming:
                    backends.add(connection.connection.dbapi_connection.info.backend_pid)

    backends: set[int] = set()
    warming = True

    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def run(n: int) -> None:
        rng = random.Random(os.getpid() * 1000 + n)
        for _ in range(10):  # connect, and let psycopg prepare its statements
            one(rng)
        start.wait()
        start.wait()
        while time.perf_counter() < deadline[0]:
            one(rng)
            counts[n] += 1

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()  # every thread warmed up
    warming = False
    appender = group_commit.for_engine(database.engine)
    if chained:  # the connection the appender writes on
        backends.add(appender._connection.dbapi_connection.info.backend_pid)  # type: ignore
    ready.put(1)
    go.wait()
    batches, entries = appender.batches, appender.entries
    cpu = (time.process_time(), sum(backend_cpu(b) for b in backends))
    started = time.perf_counter()
    deadline[0] = started + seconds
    start.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    out.put((sum(counts), elapsed, time.process_time() - cpu[0],
             sum(backend_cpu(b) for b in backends) - cpu[1],
             appender.batches - batches, appender.entries - entries))
    appender.close()
    database.dispose()


def appends_threaded(url: str, key: bytes, writers: int, seconds: float,
                     chained: bool = True) -> float:
    """`writers` concurrent writers as threads spread over (at most) 2 processes: the
    deployment shape (`serve --workers 2`, many requests in flight per process)."""
    processes = min(2, writers)
    results = run_together(thread_worker, processes, url, key, seconds, writers // processes,
                           chained=chained)
    total = sum(r[0] for r in results)
    rate = sum(r[0] / r[1] for r in results)
    client_us = sum(r[2] for r in results) / max(total, 1) * 1e6
    server_us = sum(r[3] for r in results) / max(total, 1) * 1e6
    batches = sum(r[4] for r in results)
    what = ("append_committed (group commit)" if chained
            else "baseline (plain INSERT, no log)")
    per_batch = f", {sum(r[5] for r in results) / batches:.1f} entries/commit" if batches else ""
    print(f"{what}: {writers:2d} writer thread(s) in {processes} process(es): {total:7,} in "
          f"{max(r[1] for r in results):.0f}s = {rate:7,.0f}/s; CPU per entry: client "
          f"{client_us:4.0f} us + server {server_us:4.0f} us{per_batch}   "
          f"(load average {os.getloadavg()[0]:.1f})")
    return rate


def compare_appends_threaded(url: str, key: bytes, writers: int, seconds: float,
                             repeat: int) -> None:
    logged, plain = [], []
    for _ in range(repeat):
        plain.append(appends_threaded(url, key, writers, seconds, chained=False))
        logged.append(appends_threaded(url, key, writers, seconds))
    ratios = sorted(a / b for a, b in zip(logged, plain, strict=True) if b)
    print(f"== {writers:2d} writer thread(s) in 2 processes: append_committed "
          f"{min(logged):,.0f}-{max(logged):,.0f}/s, plain insert "
          f"{min(plain):,.0f}-{max(plain):,.0f}/s, ratio {statistics.median(ratios):.2f} "
          f"(range {ratios[0]:.2f}-{ratios[-1]:.2f})")
