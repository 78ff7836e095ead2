"""Mailbox sync against the emulator: quota utilisation, time to the newest threads, many
mailboxes on two workers, and ingest speed.

    scripts/pytest.sh --version >/dev/null   # (starts PostgreSQL; or export
                                             #  GATEWAY_TEST_DATABASE_URL yourself)
    GATEWAY_TEST_DATABASE_URL=postgresql+psycopg://gateway@127.0.0.1:55432/postgres \\
        .venv/bin/python bench/sync_bench.py [--phase all|first|many|ingest]

Everything is real except Google: PostgreSQL, the OPA server (`.tools/bin/opa`; the embedded
engine otherwise), the gateway's crypto and operation log, `gmail-gateway worker` processes, and
the emulator in its own process (`gmail-emulator serve`) over HTTP. Mailboxes are connected by
minting tokens at the emulator and storing them sealed (the OAuth round trip is tested
elsewhere and is not what is measured here).

Phases:
  first   one mailbox of --messages (10,000) with quotas ON at Google's rate (250 units/s per
          user); time until the newest 50 and 500 threads are readable through the gateway's
          API (GET /v1/mailboxes/{id}/messages), and quota utilisation. Steady state = from
          one quota window after the first unit was spent (the first window's allowance is a
          free burst) until the full sync completed. Reported there: Google's view (the mean,
          over samples every 0.25 s, of the units in the user's moving window as the emulator
          counts them, over the limit: cannot pass 100%) and the gateway's (units it recorded
          in that time over 250 units/s x time); whole run = units / (limit per started window
          from the first unit to completion, the most a moving window lets through). The quota
          window may be shortened with --window-seconds (the rate stays 250 units/s); the
          output says so.
  many    --mailboxes (20) mailboxes of --mailbox-messages on --workers (2) worker processes,
          quotas ON at a rate scaled down by --many-rate-scale so that the whole fleet's demand
          fits this machine (said in the output): per-mailbox utilisation (whole run, and the
          steady state as in `first` for mailboxes whose sync lasted > 1.5 windows), 429s.
  ingest  quotas OFF: messages/s of one worker process (concurrency 1) on PostgreSQL, end to
          end (Gmail fetch + parse + encrypt + store); fetch only (get_batch over the mailbox
          with GmailBatch and with googleapiclient's BatchHttpRequest, alternately, CPU per
          message in this process); store-only (parse + encrypt + store of already-fetched
          raw messages, in this process; CPU per message of this process and of its
          PostgreSQL backend).
  budget  the quota budget alone (format=minimal batches, so CPU does not limit): Google's
          window use / limit in the steady state and 429s, with the budget as it was (units
          leave 1 s after send + window) and as it is (settled at the call's end), alternately;
          --window-seconds, --budget-seconds (90) per round, --budget-rounds (1).
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from bench.sync_quota import pct, phase_budget, utilisation, whole_run, window_fill  # noqa: E402
from bench.sync_world import (  # noqa: E402
    EMULATOR_PID,
    GOOGLE_RATE,
    Bench,
    bench_world,
    cpu_seconds,
    load_average,
)
from emulator.control import EmulatorControl  # noqa: E402
from gateway.kit.db import Database  # noqa: E402
from gateway.mail.store.repository import IncomingMessage, MessageStore  # noqa: E402
from gateway.mailboxes.models import Mailbox  # noqa: E402
from gateway.policy.vocabulary import SCOPE_READONLY  # noqa: E402
from gateway.settings.google import EMULATOR_CLIENT_ID  # noqa: E402


def newest_threads(emu: EmulatorControl, email: str, count: int) -> list[str]:
    seen: list[str] = []
    for message in emu.messages(email):  # newest first
        if message["threadId"] not in seen:
            seen.append(message["threadId"])
            if len(seen) == count:
                break
    return seen


def phase_first(bench: Bench, args: argparse.Namespace) -> None:
    window = args.window_seconds
    units_per_window = int(GOOGLE_RATE * window)
    bench.emu.set_settings(quota_enabled=True, quota_units_per_minute=units_per_window,
                           quota_window_seconds=window)
    email = "first@example.com"
    mailbox_id = bench.mailbox(email, args.messages, seed=11)
    top = newest_threads(bench.emu, email, 500)
    rejections_before = bench.emu.quota(email)["rejections"]
    print(f"\n== first: one mailbox of {args.messages} messages, quota ON at 250 units/s "
          f"(window {window:g} s = {units_per_window} units"
          f"{'' if window == 60 else ', SCALED from 60 s / 15,000 units'}), 1 worker; load "
          f"average {load_average()} ==")
    series: list[tuple[float, int]] = []
    google: list[tuple[float, int]] = []  # (t, units in the emulator's window for the user)
    marks: dict[int, float] = {}
    first_spend: float | None = None
    full_done: float | None = None
    cpu_at_full: float | None = None
    with bench.workers(1, 1, {"GATEWAY_SYNC_QUOTA_UNITS_PER_MINUTE": str(units_per_window),
                              "GATEWAY_SYNC_QUOTA_WINDOW_SECONDS": str(window)}) as workers:
        pid = bench.worker_pids[-1]
        started = time.monotonic()
        done_at = None
        while time.monotonic() - started < args.duration:
            now = time.monotonic() - started
            used = int(bench.emu.quota(email)["used"])
            google.append((now, used))
            if used and first_spend is None:
                first_spend = now
            state = bench.states().get(mailbox_id)
            if state is not None:
                series.append((now, state.units_spent))
                if state.full_completed_at is not None and full_done is None:
                    full_done, cpu_at_full = now, cpu_seconds(pid)
                if state.last_success_at is not None and done_at is None:
                    done_at = now
                    break
            # Polling the API costs CPU the sync needs (2 shared cores here): poll the 500
            # mark only once the 50 mark is reached, and not too often.
            for count in (50, 500):
                if count not in marks and (count == 50 or (50 in marks and int(now) % 3 == 0)):
                    readable = bench.readable_threads(mailbox_id, count)
                    if set(top[:count]) <= readable:
                        marks[count] = time.monotonic() - started
                    break
            time.sleep(0.25)
        end = time.monotonic() - started
        workers.close()
    state = bench.states()[mailbox_id]
    rejected = bench.emu.quota(email)["rejections"] - rejections_before
    for count in (50, 500):
        value = f"{marks[count]:.1f} s" if count in marks else f"not within {end:.0f} s"
        print(f"newest {count:>3} threads readable through the API: {value}")
    print(f"run: {end:.0f} s, {state.full_messages_done} messages stored, "
          f"{state.units_spent} units spent, {'complete' if done_at else 'stopped at the cap'}")
    if first_spend is not None:
        # Steady state: from one window after the first unit (the first window's allowance is
        # a free burst) until the full sync completed (or the cap).
        steady_from, steady_to = first_spend + window, full_done or end
        fill, samples = window_fill(google, steady_from, steady_to, units_per_window)
        gateway = utilisation(series, steady_from, steady_to, GOOGLE_RATE)
        print(f"quota utilisation, steady state = t {steady_from:.0f}..{steady_to:.0f} s (one "
              f"window after the first unit until the full sync completed): Google's view "
              f"(mean window use / limit, {samples} samples) {pct(fill)}; the gateway's "
              f"units in that time / (250 units/s x time) {pct(gateway)}")
        whole = whole_run(state.units_spent, steady_to - first_spend, units_per_window, window)
        print(f"quota utilisation, whole run (first unit..full sync complete, allowed = the "
              f"limit per started window): {pct(whole)}")
    print(f"429s seen by the gateway: {state.rate_limited}; refused by the emulator "
          f"(all users): {rejected}")
    done = max(state.full_messages_done, 1)
    cpu = cpu_at_full if cpu_at_full is not None else bench.worker_cpu[pid]
    print(f"worker CPU until the full sync completed: {cpu:.1f} s = {1000 * cpu / done:.2f} ms "
          f"per message stored (start-up included); load average at the end {load_average()}")


def phase_many(bench: Bench, args: argparse.Namespace) -> None:
    scale = args.many_rate_scale
    window = args.window_seconds
    rate = GOOGLE_RATE * scale
    units_per_window = int(rate * window)
    bench.emu.set_settings(quota_enabled=True, quota_units_per_minute=units_per_window,
                           quota_window_seconds=window)
    emails = {bench.mailbox(f"many{i}@example.com", args.mailbox_messages, seed=100 + i):
              f"many{i}@example.com" for i in range(args.mailboxes)}
    rejections_before = bench.emu.quota("many0@example.com")["rejections"]
    print(f"\n== many: {args.mailboxes} mailboxes x {args.mailbox_messages} messages on "
          f"{args.workers} workers, quota ON, SCALED to {rate:.1f} units/s per user "
          f"({scale:g} x Google's rate; window {window:g} s = {units_per_window} units); load "
          f"average {load_average()} ==")
    google: dict[uuid.UUID, list[tuple[float, int]]] = {m: [] for m in emails}
    first_spend: dict[uuid.UUID, float] = {}
    finished: dict[uuid.UUID, float] = {}
    concurrency = (args.mailboxes + args.workers - 1) // args.workers
    with bench.workers(args.workers, concurrency,
                       {"GATEWAY_SYNC_QUOTA_UNITS_PER_MINUTE": str(units_per_window),
                        "GATEWAY_SYNC_QUOTA_WINDOW_SECONDS": str(window)}):
        started = time.monotonic()
        while time.monotonic() - started < args.duration and len(finished) < len(emails):
            now = time.monotonic() - started
            states = bench.states()
            for mailbox_id, email in emails.items():
                if mailbox_id in finished:
                    continue
                used = int(bench.emu.quota(email)["used"])
                google[mailbox_id].append((now, used))
                if used:
                    first_spend.setdefault(mailbox_id, now)
                state = states.get(mailbox_id)
                if state is not None and state.full_completed_at is not None:
                    finished[mailbox_id] = now
            time.sleep(1.0)
        end = time.monotonic() - started
    states = bench.states()
    fills, wholes, too_short = [], [], 0
    for mailbox_id in emails:
        if mailbox_id not in first_spend:
            continue
        t0, t1 = first_spend[mailbox_id], finished.get(mailbox_id, end)
        wholes.append(whole_run(states[mailbox_id].units_spent, t1 - t0, units_per_window,
                                window) or 0.0)
        if t1 - (t0 + window) < window / 2:
            too_short += 1  # no steady state: the sync fit into about one window
            continue
        fill, _ = window_fill(google[mailbox_id], t0 + window, t1, units_per_window)
        if fill is not None:
            fills.append(fill)
    limited = sum(states[m].rate_limited for m in emails)
    rejected = bench.emu.quota("many0@example.com")["rejections"] - rejections_before
    print(f"full sync complete: {len(finished)}/{len(emails)} mailboxes in {end:.0f} s "
          f"(median {statistics.median(finished.values()) if finished else float('nan'):.0f} s)")
    if wholes:
        print(f"per-mailbox utilisation, whole run (units / the limit per started window, "
              f"first unit..full sync complete): min {pct(min(wholes))}, median "
              f"{pct(statistics.median(wholes))}, max {pct(max(wholes))}")
    if fills:
        print(f"per-mailbox utilisation, steady state (Google's view: mean window use / limit "
              f"from one window after the first unit to completion): min {pct(min(fills))}, "
              f"median {pct(statistics.median(fills))}, max {pct(max(fills))} "
              f"({len(fills)} mailboxes)")
    if too_short:
        print(f"  {too_short} mailboxes had no steady state (synced within ~1.5 windows)")
    print(f"429s seen by the gateway: {limited}; refused by the emulator: {rejected}; load "
          f"average at the end {load_average()}")


def phase_ingest(bench: Bench, args: argparse.Namespace) -> None:
    bench.emu.set_settings(quota_enabled=False)
    email = "ingest@example.com"
    mailbox_id = bench.mailbox(email, args.ingest_messages, seed=5)
    print(f"\n== ingest: quotas OFF, {args.ingest_messages} messages, PostgreSQL; load "
          f"average {load_average()} on {os.cpu_count()} CPUs ==")
    emulator_cpu = cpu_seconds(EMULATOR_PID[0]) if EMULATOR_PID else 0.0
    with bench.workers(1, 1, {}) as workers:
        pid = bench.worker_pids[-1]
        started = time.monotonic()
        while time.monotonic() - started < args.duration:
            state = bench.states().get(mailbox_id)
            if state is not None and state.last_success_at is not None:
                break
            time.sleep(0.2)
        workers.close()
    emulator_cpu = (cpu_seconds(EMULATOR_PID[0]) if EMULATOR_PID else 0.0) - emulator_cpu
    state = bench.states()[mailbox_id]
    if state.full_started_at and state.full_completed_at:
        seconds = (state.full_completed_at - state.full_started_at).total_seconds()
        done = state.full_messages_done
        print(f"end to end, 1 worker process (fetch + parse + encrypt + store): "
              f"{done / seconds:.0f} messages/s ({done} in {seconds:.1f} s wall)")
        print(f"  CPU per message: worker {1000 * bench.worker_cpu[pid] / done:.2f} ms "
              f"(whole process life, start-up included), emulator (Google's side, own "
              f"process) {1000 * emulator_cpu / done:.2f} ms")
    fetch_only(bench, email, args.store_rounds)
    store_only(bench, bench.emu.messages(email, format="raw")[: args.ingest_messages],
               args.store_rounds)


def store_only(bench: Bench, raws: list[dict[str, Any]], rounds: int) -> None:
    """Parse + seal + store of already-fetched raw messages in this process, the way sync
    stores a fetched batch (`MessageStore.put_many`, one transaction per 50), through an engine
    with exactly one connection so that its PostgreSQL backend's CPU is read too."""
    store = MessageStore(bench.crypto)
    db = Database.from_url(bench.settings.database_url, pool_size=1, max_overflow=0)
    with db.engine.connect() as conn:
        backend = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    for round_no in range(rounds):
        other = bench.mailbox(f"ingest-store{round_no}@example.com", 0, seed=6)
        items = [IncomingMessage(gmail_id=m["id"], thread_id=m["threadId"], raw=_decoded(m),
                                 label_ids=m.get("labelIds", [])) for m in raws]
        wall, cpu, pg = time.perf_counter(), time.process_time(), cpu_seconds(backend)
        for start in range(0, len(items), 50):
            with db.transaction() as session:
                mailbox = session.get(Mailbox, other)
                assert mailbox is not None
                store.put_many(session, mailbox, items[start:start + 50])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        pg, n = cpu_seconds(backend) - pg, len(items)
        print(f"store only, round {round_no + 1}, one thread (MessageStore.put_many: parse + "
              f"encrypt + store, commit per 50, {sum(len(i.raw) for i in items) / n / 1024:.0f}"
              f" KB raw average): {n / wall:.0f} messages/s wall; CPU per message "
              f"{1000 * cpu / n:.2f} ms in this process + {1000 * pg / n:.2f} ms in its "
              f"PostgreSQL backend (fsync=off in the dev cluster) = "
              f"{1000 * (cpu + pg) / n:.2f} ms; load {load_average()}")
    db.dispose()


def fetch_only(bench: Bench, email: str, rounds: int) -> None:
    """The fetch side alone, in this process: `gmail_ops.get_batch` over the whole mailbox
    (batches of 50 `messages.get format=raw`, JSON + base64url decoding included), with
    `GmailBatch` and with googleapiclient's own `BatchHttpRequest` as the baseline, alternately.
    CPU of this process per message; the emulator's CPU is its own process's."""
    from google.oauth2.credentials import Credentials
    from googleapiclient.http import BatchHttpRequest

    from gateway.gmail import client as gmail_client
    from gateway.gmail.batch import GmailBatch
    from gateway.gmail.client import build_client
    from gateway.gmail.retry import RetryPolicy
    from gateway.sync import gmail_ops

    token = bench.emu.mint_tokens(email, [SCOPE_READONLY], client_id=EMULATOR_CLIENT_ID)
    client = build_client(Credentials(token["access_token"]), bench.settings)
    ids = [m["id"] for m in bench.emu.messages(email)]
    results: dict[str, list[float]] = {"googleapiclient": [], "GmailBatch": []}
    for round_no in range(rounds):
        for name, cls in (("googleapiclient", BatchHttpRequest), ("GmailBatch", GmailBatch)):
            size = 0
            wall, cpu = time.perf_counter(), time.process_time()
            # `GmailClient.new_batch` builds a `GmailBatch`; the baseline replaces the class.
            with mock.patch.object(gmail_client, "GmailBatch", cls):
                for start in range(0, len(ids), gmail_ops.MAX_BATCH):
                    fetched = gmail_ops.get_batch(
                        client, ids[start:start + gmail_ops.MAX_BATCH], RetryPolicy())
                    size += sum(len(gmail_ops.raw_bytes(r)) for r in fetched.messages.values())
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            results[name].append(1000 * cpu / len(ids))
            print(f"fetch only, round {round_no + 1}, {name:>15}: {1000 * cpu / len(ids):.2f} ms "
                  f"CPU per message (this process), {len(ids) / wall:.0f} messages/s wall, "
                  f"{size / len(ids) / 1024:.0f} KB raw average; load {load_average()}")
    base, ours = statistics.median(results["googleapiclient"]), statistics.median(
        results["GmailBatch"])
    print(f"fetch only, median CPU per message: googleapiclient {base:.2f} ms, GmailBatch "
          f"{ours:.2f} ms (x{base / ours:.1f} less)")


def _decoded(message: dict[str, Any]) -> bytes:
    data = str(message["raw"])
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=["all", "first", "many", "ingest", "budget"],
                        default="all")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--mailbox-messages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window-seconds", type=float, default=60.0)
    parser.add_argument("--many-rate-scale", type=float, default=0.1)
    parser.add_argument("--ingest-messages", type=int, default=2000)
    parser.add_argument("--store-rounds", type=int, default=3,
                        help="ingest: store-only rounds (each into a fresh mailbox)")
    parser.add_argument("--budget-seconds", type=float, default=90.0,
                        help="budget: seconds per round")
    parser.add_argument("--budget-rounds", type=int, default=1,
                        help="budget: rounds (each runs the old and the new budget)")
    parser.add_argument("--duration", type=float, default=300.0,
                        help="cap per phase, seconds")
    args = parser.parse_args()
    with bench_world() as bench:
        print(f"PostgreSQL, policy engine "
              f"{'OPA server' if bench.settings.policy_engine_url else 'embedded'}, "
              f"emulator process at {bench.emu.base_url}; {os.cpu_count()} CPUs (shared), load "
              f"average {load_average()}")
        if args.phase in ("all", "first"):
            phase_first(bench, args)
        if args.phase in ("all", "many"):
            phase_many(bench, args)
        if args.phase in ("all", "ingest"):
            phase_ingest(bench, args)
        if args.phase in ("all", "budget"):
            phase_budget(bench, args)


if __name__ == "__main__":
    main()
