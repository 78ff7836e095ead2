"""Measuring policy decisions: the timing loops, CPU accounting and machine probes that
bench/policy_bench.py and bench/policy_bound_bench.py share.

Single thread; Python's collector is off while a line is measured. CPU per decision is this
thread's (`time.thread_time_ns`) plus, given its pid, another process's (the OPA server's,
from /proc). Prints nothing itself.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.policy.contract import PolicyEngine
from gateway.policy.engines.revision import write_revision_module
from tests.support.decision_table import TableCase

# --- measuring ------------------------------------------------------------------------------------

@dataclass
class Result:
    label: str
    samples_ns: list[int]
    cpu_ns: int  # CPU time of this thread over all samples
    server_cpu_ns: int = 0  # CPU time of the OPA server process over all samples

    def line(self) -> str:
        s = sorted(self.samples_ns)
        n = len(s)
        p50, p99 = s[n // 2] / 1e6, s[min(n - 1, int(n * 0.99))] / 1e6
        rate = n / (sum(s) / 1e9)
        cpu = f"  cpu {self.cpu_ns / n / 1e6:5.3f} ms"
        if self.server_cpu_ns:
            cpu += f" + server {self.server_cpu_ns / n / 1e6:5.3f} ms"
        return (f"  {self.label:<46} {rate:>8,.0f} /s  p50 {p50:6.3f} ms  p99 {p99:6.3f} ms"
                f"{cpu}  (n={n})")


def process_cpu_ns(pid: int | None) -> int:
    """utime + stime of another process (the OPA server), from /proc; 0 when unknown."""
    if pid is None:
        return 0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


WARMUP_SECONDS = 1.0  # --warmup-seconds


def speed_probe() -> str:
    """A fixed CPU-bound loop, best of 5, in ms: this VM's speed moves with its host by a third
    or more, so runs are compared at similar probe values (lower is faster)."""
    best = min(_timed(lambda: sum(i * i for i in range(200_000))) for _ in range(5))
    return f"{best * 1e3:.1f} ms"


def cpu_idle() -> str:
    """How this (virtual) machine's idle CPUs wait: a decision over HTTP wakes OPA's CPU and then
    the client's, and on a KVM guest whose haltpoll driver does not poll
    (guest_halt_poll_ns=0, this VM's boot setting) each wake-up costs ~0.1 ms
    (docs/decisions/0004). Read-only: the bench never changes it."""
    base = Path("/sys/devices/system/cpu/cpuidle/current_driver")
    try:
        driver = base.read_text().strip()
    except OSError:
        return "cpuidle unknown"
    poll = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
    if driver == "haltpoll" and poll.exists():
        return f"cpuidle haltpoll, guest_halt_poll_ns={poll.read_text().strip()}"
    return f"cpuidle {driver}"


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


SERVER_WARMUP_SECONDS = 3.0  # --server-warmup-seconds


def warm_up(items: list[Any], fn: Callable[[Any], object], seconds: float) -> None:
    """At least one pass over `items`, and passes until `seconds` have gone by."""
    deadline = time.perf_counter() + seconds
    while True:
        for item in items:
            fn(item)
        if time.perf_counter() >= deadline:
            break


def warm_server(engine: PolicyEngine, cases: list[TableCase]) -> None:
    """Decisions for SERVER_WARMUP_SECONDS on a freshly started OPA server: its first seconds are
    slower (its heap grows into new pages), which made whichever line came first the worst in
    every run; a sidecar is long-running, so the lines measure it warm."""
    warm_up(cases, lambda c: engine.decide(c.input), SERVER_WARMUP_SECONDS)


def measure(label: str, items: list[Any], fn: Callable[[Any], object], rounds: int,
            server_pid: int | None = None) -> Result:
    # Warm up: at least one pass and WARMUP_SECONDS of the same work (connections, prepared
    # queries, caches, Go's heap; and this VM's CPUs, which run slower for a while after idling:
    # the first few hundred decisions after a pause cost up to a third more).
    warm_up(items, fn, WARMUP_SECONDS)
    gc.collect()
    gc.disable()
    samples = []
    cpu_start, server_start = time.thread_time_ns(), process_cpu_ns(server_pid)
    try:
        for _ in range(rounds):
            for item in items:
                start = time.perf_counter_ns()
                fn(item)
                samples.append(time.perf_counter_ns() - start)
    finally:
        gc.enable()
    return Result(label, samples, time.thread_time_ns() - cpu_start,
                  process_cpu_ns(server_pid) - server_start)


def measure_interleaved(labels: tuple[str, str], fns: tuple[Callable[[Any], object], ...],
                        pids: tuple[int | None, int | None], items: list[Any],
                        rounds: int) -> tuple[Result, Result]:
    """Two configurations in alternating passes over the same items, so both see the same
    minutes of this VM (whose speed swings by a third and more between lines measured apart)."""
    for fn in fns:
        warm_up(items, fn, WARMUP_SECONDS)  # the same warm-up as a line
    samples: tuple[list[int], list[int]] = ([], [])
    cpu, server = [0, 0], [0, 0]
    gc.collect()
    gc.disable()
    try:
        for n in range(2 * rounds):
            k = n % 2 if n // 2 % 2 == 0 else 1 - n % 2  # A B B A A B ...
            cpu_start, server_start = time.thread_time_ns(), process_cpu_ns(pids[k])
            for item in items:
                start = time.perf_counter_ns()
                fns[k](item)
                samples[k].append(time.perf_counter_ns() - start)
            cpu[k] += time.thread_time_ns() - cpu_start
            server[k] += process_cpu_ns(pids[k]) - server_start
    finally:
        gc.enable()
    return (Result(labels[0], samples[0], cpu[0], server[0]),
            Result(labels[1], samples[1], cpu[1], server[1]))


CONSTANT_POLICY = """package gateway.authz

decision := {"allow": false, "reasons": ["default_deny"], "obligations": {},
\t"revision": policy_revision}
"""


def constant_policy_dir(root: Path) -> Path:
    """A policy directory whose decision is a constant: an engine on it costs its floor."""
    (root / "constant.rego").write_text(CONSTANT_POLICY, encoding="utf-8")
    write_revision_module(root)
    return root
