"""The load generator and the CPU accounting of bench/mail_read_bench.py: kept-alive HTTP/1.1
clients sending GETs back to back (a minimal hand-written client, so that the generator costs
little CPU next to the server it measures), and the CPU time per request of the gateway workers,
the PostgreSQL backends and the OPA server, read from /proc."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# --- the load generator -------------------------------------------------------------------------

@dataclass
class Result:
    latencies: list[float]
    elapsed: float
    errors: int

    def pct(self, q: float) -> float:
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000 if data else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


async def _client(port: int, requests: list[bytes], offset: int, warmup_until: float,
                  stop_at: float, out: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                return
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            done = time.perf_counter()
            if status != 200:
                errors.append(status)
            elif started >= warmup_until:
                out.append(done - started)
    finally:
        writer.close()


def run_load(port: int, paths: list[str], headers: dict[str, str], clients: int,
             seconds: float, warmup: float) -> Result:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    requests = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode() for p in paths]
    latencies: list[float] = []
    errors: list[int] = []

    async def main() -> None:
        now = time.perf_counter()
        warmup_until, stop_at = now + warmup, now + warmup + seconds
        await asyncio.gather(*(_client(port, requests, n * 7, warmup_until, stop_at, latencies,
                                       errors) for n in range(clients)))

    asyncio.run(main())
    return Result(latencies, seconds, len(errors))


# --- the run ------------------------------------------------------------------------------------

def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (processes gone count as 0)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                pids.extend(process_tree(int(child)))
    return pids


def backend_pids(admin_url: str, database_url: str) -> list[int]:
    """PostgreSQL server processes serving the benchmark's database (the pooled connections)."""
    import psycopg
    from sqlalchemy import make_url

    name = make_url(database_url).database
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                            "AND pid <> pg_backend_pid()", (name,)).fetchall()
    return [int(r[0]) for r in rows]


@dataclass
class CpuSplit:
    """CPU milliseconds per request, by process."""

    gateway: float
    postgres: float
    opa: float
    generator: float


class BackendCpu:
    """CPU of the PostgreSQL backends serving one database during a run. Backends come and go
    (the pool's overflow connections close when the load drops), so they are sampled every
    quarter second and a backend that has exited keeps its last sample."""

    def __init__(self, admin_url: str, url: str) -> None:
        self.admin_url, self.url = admin_url, url
        self.start = {pid: process_cpu([pid]) for pid in backend_pids(admin_url, url)}
        self.last = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            self.sample()

    def sample(self) -> None:
        for pid in backend_pids(self.admin_url, self.url):
            value = process_cpu([pid])
            if value:
                self.last[pid] = max(value, self.last.get(pid, 0.0))

    def used(self) -> float:
        self._stop.set()
        self._thread.join()
        self.sample()
        return sum(v - self.start.get(pid, 0.0) for pid, v in self.last.items())


def measure(port: int, paths: list[str], headers: dict[str, str], clients: int,
            args: argparse.Namespace, server_pid: int, admin_url: str, url: str,
            opa_pid: int) -> tuple[Result, CpuSplit]:
    gw_pids = process_tree(server_pid)
    postgres = BackendCpu(admin_url, url)
    before = (process_cpu(gw_pids), process_cpu([opa_pid]), cpu_seconds())
    res = run_load(port, paths, headers, clients, args.seconds, args.warmup)
    after = (process_cpu(gw_pids), process_cpu([opa_pid]), cpu_seconds())
    pg_used = postgres.used()
    # The counters include the warm-up: divide by every request sent then.
    sent = max(1, round(res.rate * (args.seconds + args.warmup)))
    gw, opa, gen = ((a - b) * 1000 / sent for a, b in zip(after, before, strict=True))
    return res, CpuSplit(gateway=gw, postgres=pg_used * 1000 / sent, opa=opa, generator=gen)
