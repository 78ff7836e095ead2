"""What logging refused requests costs: normal traffic's latency and the log's appends/s with and
without a flood of cross-tenant probes, measured in one run. Numbers, not pass/fail.

    source scripts/lib.sh && ensure_postgres_running && ensure_opa
    .venv/bin/python bench/refusal_log_bench.py [--seconds 8] [--repeat 3] [--flood-rate 1000]

The gateway runs as shipped (`python -m gateway.cli serve`, one worker unless --workers) on a
database of its own (created from GATEWAY_TEST_DATABASE_URL, dropped after) with the OPA
server. Normal traffic: --clients keep-alive connections reading a message's metadata in a
closed loop (each an allow, group-committed before the read). Three phases, alternated
--repeat times:

- `baseline`: normal traffic alone;
- `unlogged`: normal traffic and a flood of 404s the gateway does not log (a path no route
  matches), at --flood-rate requests/s over 16 connections: what any flood of that rate costs;
- `refusals`: normal traffic and the same flood as cross-tenant probes (tenant B's key asking
  for tenant A's message: a 404 and a `deny` entry, `not_found`, group-committed like any
  denial).

`refusals` against `unlogged` is the cost of logging the refusals. The log's growth per phase
is counted in the database, the server's CPU from /proc (one worker: the serving process).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.kit.db import Database
from gateway.mail.models import Message
from tests.support.database import migrated_database
from tests.support.opa_process import run_opa_server
from tests.support.served import blackbox_settings, build_world, serve_gateway
from tests.support.world import ROOT

FLOOD_CONNECTIONS = 16


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    normal_errors: int = 0
    probes_sent: int = 0
    probe_statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    allows: int = 0
    denies: int = 0
    cpu: float = 0.0


def _request(path: str, key: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            "Gateway-Purpose: user_facing\r\nUser-Agent: refusal-bench\r\n\r\n").encode()


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def _normal(port: int, request: bytes, stop: float, phase: Phase) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop:
            started = time.perf_counter()
            status = await _exchange(reader, writer, request)
            phase.latencies.append(time.perf_counter() - started)
            phase.normal_errors += status != 200
    finally:
        writer.close()


async def _flood(port: int, request: bytes, stop: float, rate: float, phase: Phase) -> None:
    """One of FLOOD_CONNECTIONS open-loop senders, each at rate / FLOOD_CONNECTIONS."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    interval = FLOOD_CONNECTIONS / rate
    due = time.monotonic()
    try:
        while time.monotonic() < stop:
            status = await _exchange(reader, writer, request)
            phase.probes_sent += 1
            phase.probe_statuses[status] = phase.probe_statuses.get(status, 0) + 1
            due += interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    finally:
        writer.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _log_counts(db: Database) -> tuple[int, int]:
    with db.transaction() as s:
        rows = dict(s.execute(select(AuditEntry.decision, func.count())
                              .group_by(AuditEntry.decision)).all())
    return int(rows.get("allow", 0)), int(rows.get("deny", 0))


async def _run_phase(port: int, phase: Phase, normal: bytes, probe: bytes, clients: int,
                     seconds: float, flood_rate: float) -> None:
    stop = time.monotonic() + seconds
    tasks = [_normal(port, normal, stop, phase) for _ in range(clients)]
    if flood_rate > 0:
        tasks += [_flood(port, probe, stop, flood_rate, phase)
                  for _ in range(FLOOD_CONNECTIONS)]
    await asyncio.gather(*tasks)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4, help="normal-traffic connections")
    parser.add_argument("--flood-rate", type=float, default=1000.0, help="probes per second")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    admin_url = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    if not admin_url:
        print("set GATEWAY_TEST_DATABASE_URL (source scripts/lib.sh && ensure_postgres_running)")
        return 2
    opa = Path(os.environ.get("GATEWAY_OPA_BINARY", ROOT / ".tools" / "bin" / "opa"))
    with (migrated_database(admin_url, "gw_refusal_bench") as url,
          run_opa_server(opa, ROOT / "policies") as opa_url,
          tempfile.TemporaryDirectory() as tmp):
        settings = blackbox_settings(url, Path(tmp), opa_url)
        db = Database.from_url(url)
        world = build_world(db, settings, "bench")
        with db.transaction() as s:
            message = s.scalar(select(Message.gmail_id)
                               .where(Message.mailbox_id == world.a.mailbox.id))
        normal = _request(f"/v1/mailboxes/{world.a.mailbox.id}/messages/{message}",
                          world.a.crm.key)
        probe = _request(f"/v1/mailboxes/{world.a.mailbox.id}/messages/{uuid.uuid4().hex[:16]}",
                         world.b.crm.key)
        unrouted = _request(f"/v1/mailboxes/{world.a.mailbox.id}/no-such-route",
                            world.b.crm.key)
        phases: list[Phase] = []
        with serve_gateway(settings, workers=args.workers) as server:
            asyncio.run(_run_phase(server.port, Phase("warm-up"), normal, probe, args.clients,
                                   2.0, args.flood_rate))
            for _ in range(args.repeat):
                for name, flood, rate in (("baseline", probe, 0.0),
                                          ("unlogged", unrouted, args.flood_rate),
                                          ("refusals", probe, args.flood_rate)):
                    phase = Phase(name)
                    before, cpu = _log_counts(db), _cpu_seconds(server.process.pid)
                    started = time.monotonic()
                    asyncio.run(_run_phase(server.port, phase, normal, flood, args.clients,
                                           args.seconds, rate))
                    phase.seconds = time.monotonic() - started
                    phase.cpu = _cpu_seconds(server.process.pid) - cpu
                    after = _log_counts(db)
                    phase.allows, phase.denies = after[0] - before[0], after[1] - before[1]
                    phases.append(phase)
        db.dispose()
    _report(phases, args)
    return 0


def _report(phases: list[Phase], args: argparse.Namespace) -> None:
    print(f"refusal logging: {args.clients} normal clients, flood target {args.flood_rate:.0f}/s "
          f"over {FLOOD_CONNECTIONS} connections, {args.workers} worker(s), "
          f"{args.repeat} x {args.seconds:.0f} s per phase, cores: {os.cpu_count()}")
    print(f"{'phase':9} {'normal/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'flood/s':>8} {'allow/s':>8} {'deny/s':>7} {'appends/s':>9} {'cpu ms/req':>10} "
          f"{'errors':>6}")
    summary: dict[str, list[tuple[float, ...]]] = {}
    for p in phases:
        rate = len(p.latencies) / p.seconds
        served = len(p.latencies) + p.probes_sent
        row = (rate, _pct(p.latencies, .5), _pct(p.latencies, .95), _pct(p.latencies, .99),
               p.probes_sent / p.seconds, (p.allows + p.denies) / p.seconds,
               p.denies / p.seconds, 1000 * p.cpu / max(1, served))
        summary.setdefault(p.name, []).append(row)
        print(f"{p.name:9} {rate:9.0f} {row[1]:7.1f} {row[2]:7.1f} {row[3]:7.1f} "
              f"{row[4]:8.0f} {p.allows / p.seconds:8.0f} {row[6]:7.0f} {row[5]:9.0f} "
              f"{row[7]:10.2f} {p.normal_errors:6d}  flood statuses {p.probe_statuses or '-'}")
    med = {name: [statistics.median(col) for col in zip(*rows, strict=True)]
           for name, rows in summary.items()}
    for name in ("unlogged", "refusals"):
        base, other = med["baseline"], med[name]
        print(f"medians, {name} vs baseline: normal {base[0]:.0f}/s -> {other[0]:.0f}/s "
              f"(x{other[0] / base[0]:.2f}), p50 {base[1]:.1f} -> {other[1]:.1f} ms "
              f"(x{other[1] / base[1]:.2f}), p95 {base[2]:.1f} -> {other[2]:.1f} ms")
    unlogged, refusals = med["unlogged"], med["refusals"]
    print(f"medians, refusals vs unlogged flood: normal x{refusals[0] / unlogged[0]:.2f}, "
          f"p50 x{refusals[1] / unlogged[1]:.2f}, p95 x{refusals[2] / unlogged[2]:.2f}, "
          f"flood served {unlogged[4]:.0f}/s vs {refusals[4]:.0f}/s, "
          f"CPU per request {unlogged[7]:.2f} vs {refusals[7]:.2f} ms; "
          f"log appends {refusals[5]:.0f}/s of which refusals {refusals[6]:.0f}/s")


if __name__ == "__main__":
    sys.exit(main())
