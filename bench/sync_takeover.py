"""How long a mailbox waits when the worker syncing it dies: SIGKILL the lease holder mid-sync,
measure until a standby worker holds the lease and until it has committed its first step.

    GATEWAY_TEST_DATABASE_URL=postgresql+psycopg://gateway@127.0.0.1:55432/postgres \\
        .venv/bin/python bench/sync_takeover.py [--rounds 3] [--lease 10] [--heartbeat 2]

Everything is real except Google (the emulator in its own process, quota off, --latency-ms
per Gmail call and batch part so the full sync lasts long enough to be killed in): PostgreSQL,
the OPA server, `gmail-gateway worker` processes. Each round: a standby worker is started (and
waited for: it serves its metrics, GATEWAY_SYNC_METRICS_PORT, once it is up), the current lease
holder (one full sync of --messages) is killed with SIGKILL once it has committed
progress, and the database is polled every 20 ms:

  beat age   time from the holder's last heartbeat to the kill (0..heartbeat period)
  claimed    kill -> the standby's lease token is on the mailbox
  resumed    kill -> the standby has committed a step (more messages stored than at the kill)

Expected: claimed = lease - beat age + up to one idle poll (GATEWAY_SYNC_IDLE_SLEEP_SECONDS,
0.2 s here); resumed = claimed + the standby's first step (connect, decide, one batch). Prints
numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from bench.sync_world import (  # noqa: E402
    bench_world,
    free_port,
    load_average,
)
from gateway.kit.timeutil import as_utc  # noqa: E402
from gateway.settings import Settings  # noqa: E402

POLL = 0.02


def wait(condition: Callable[[], bool], timeout: float) -> float | None:
    """Poll `condition()` every POLL s; the wall time (time.time()) it first held, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.time()
        time.sleep(POLL)
    return None


def serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--lease", type=float, default=Settings().sync_lease_seconds)
    parser.add_argument("--heartbeat", type=float, default=Settings().sync_heartbeat_seconds)
    args = parser.parse_args()
    with bench_world() as bench, ExitStack() as stack:
        emu = bench.emu
        emu.set_settings(quota_enabled=False)
        mailbox_id = bench.mailbox("takeover@example.com", args.messages, seed=5)
        emu.set_faults(latency_ms=args.latency_ms)
        env = {"GATEWAY_SYNC_LEASE_SECONDS": str(args.lease),
               "GATEWAY_SYNC_HEARTBEAT_SECONDS": str(args.heartbeat)}
        print(f"== takeover: lease {args.lease:g} s, heartbeat {args.heartbeat:g} s, idle poll "
              f"0.2 s; {args.messages} messages, {args.latency_ms} ms per Gmail call; load "
              f"average {load_average()} ==")

        def held_by(pid: int) -> bool:
            row = bench.states().get(mailbox_id)
            return row is not None and f":{pid}:" in (row.lease_owner or "")

        def stored_more_than(count: int) -> bool:
            row = bench.states().get(mailbox_id)
            return row is not None and (row.full_messages_done > count
                                        or row.last_success_at is not None)

        stack.enter_context(bench.workers(1, 1, env))
        holder = bench.worker_pids[-1]
        rows: list[tuple[float, float, float]] = []
        for round_no in range(1, args.rounds + 1):
            if wait(partial(held_by, holder), 300) is None or \
                    wait(partial(stored_more_than, 0), 300) is None:
                print("the holder never made progress; stopping")
                break
            port = free_port()
            stack.enter_context(bench.workers(1, 1, {**env,
                                                     "GATEWAY_SYNC_METRICS_PORT": str(port)}))
            standby = bench.worker_pids[-1]
            # Started: it serves its metrics just before its first claim (nothing is due).
            if wait(partial(serving, port), 120) is None:
                print("the standby worker did not start; stopping")
                break
            time.sleep(1.0)
            before = bench.states()[mailbox_id]
            os.kill(holder, signal.SIGKILL)
            killed_at = time.time()
            beat = before.heartbeat_at
            beat_age = killed_at - as_utc(beat).timestamp() if beat else float("nan")
            claimed = wait(partial(held_by, standby), 300)
            resumed = wait(partial(stored_more_than, before.full_messages_done), 300)
            if claimed is None or resumed is None:
                print(f"round {round_no}: no takeover within 300 s")
                break
            rows.append((beat_age, claimed - killed_at, resumed - killed_at))
            print(f"round {round_no}: beat age {beat_age:.2f} s, claimed after "
                  f"{claimed - killed_at:.2f} s, resumed (first step committed) after "
                  f"{resumed - killed_at:.2f} s; {before.full_messages_done} messages stored "
                  "at the kill")
            holder = standby
            if bench.states()[mailbox_id].last_success_at is not None:
                print("the full sync completed; stopping")
                break
        if rows:
            claimed_all = [r[1] for r in rows]
            resumed_all = [r[2] for r in rows]
            print(f"claimed after kill: median {statistics.median(claimed_all):.2f} s, max "
                  f"{max(claimed_all):.2f} s; resumed: median "
                  f"{statistics.median(resumed_all):.2f} s, max {max(resumed_all):.2f} s "
                  f"(lease {args.lease:g} s); load average {load_average()}")
        emu.clear_faults()


if __name__ == "__main__":
    main()
