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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from sqlalchemy import select  # noqa: E402

from emulator.control import EmulatorControl  # noqa: E402
from gateway.accounts import service as accounts  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.crypto import CryptoService  # noqa: E402
from gateway.kit.db import Database  # noqa: E402
from gateway.kit.migrate import upgrade  # noqa: E402
from gateway.mail.models import Mailbox  # noqa: E402
from gateway.mail.store import IncomingMessage, MessageStore  # noqa: E402
from gateway.oauth.flow import TokenGrant  # noqa: E402
from gateway.oauth.tokens import store_tokens  # noqa: E402
from gateway.policy.vocabulary import SCOPE_READONLY  # noqa: E402
from gateway.settings import EMULATOR_CLIENT_ID, Environment, Settings  # noqa: E402
from gateway.sync.models import MailboxSync  # noqa: E402

PEPPER = "bench-pepper-0123456789abcdef"
GOOGLE_RATE = 15_000 / 60  # units per second per user


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.1f} {five:.1f} {fifteen:.1f}"


EMULATOR_PID: list[int] = []


@contextmanager
def emulator_process() -> Iterator[EmulatorControl]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    EMULATOR_PID.append(proc.pid)
    control = EmulatorControl(f"http://127.0.0.1:{port}", timeout=900)  # seeding 10k is slow
    try:
        for _ in range(100):
            try:
                control.health()
                break
            except Exception:  # not up yet
                time.sleep(0.1)
        yield control
    finally:
        _stop(proc)


@contextmanager
def database(admin_url: str) -> Iterator[str]:
    from tests.conftest import create_database, drop_database

    url = create_database(admin_url, "gw_sync_bench")
    try:
        upgrade(url)
        yield url
    finally:
        drop_database(admin_url, url)


@contextmanager
def policy_server() -> Iterator[str | None]:
    opa = Path(os.environ.get("GATEWAY_OPA_BINARY", ROOT / ".tools" / "bin" / "opa"))
    if not opa.exists():
        yield None
        return
    from gateway.policy.engines.opa_process import run_opa_server

    with run_opa_server(opa, ROOT / "policies") as url:
        yield url


class Bench:
    def __init__(self, settings: Settings, emu: EmulatorControl, api: TestClient) -> None:
        self.settings = settings
        self.emu = emu
        self.api = api
        self.db = Database.from_url(settings.database_url)
        self.crypto: CryptoService = api.app.state.crypto  # type: ignore[attr-defined]
        with self.db.transaction() as session:
            tenant = accounts.create_tenant(session, f"bench-{uuid.uuid4().hex[:6]}")
            crm = accounts.create_principal(session, tenant, "crm_service", "crm")
            self.crm_key = accounts.create_api_key(session, PEPPER.encode(), crm).secret
            self.tenant_id = tenant.id
        self.headers = {"Authorization": f"Bearer {self.crm_key}",
                        "Gateway-Purpose": "user_facing"}
        self.worker_pids: list[int] = []
        self.worker_cpu: dict[int, float] = {}

    def mailbox(self, email: str, messages: int, seed: int) -> uuid.UUID:
        """A seeded emulator user, connected by storing minted tokens (sealed)."""
        self.emu.add_user(email)
        if messages:
            self.emu.seed(email, generate=messages, seed=seed)
        token = self.emu.mint_tokens(email, [SCOPE_READONLY], client_id=EMULATOR_CLIENT_ID)
        with self.db.transaction() as session:
            tenant = accounts.get_tenant(session, str(self.tenant_id))
            owner = accounts.create_principal(session, tenant, "end_user", email)
            mailbox = Mailbox(tenant_id=self.tenant_id, owner_principal_id=owner.id,
                              granted_scopes=[SCOPE_READONLY], connected_at=datetime.now(UTC))
            session.add(mailbox)
            session.flush()
            store_tokens(session, self.crypto, mailbox, TokenGrant(
                access_token=token["access_token"], refresh_token=token["refresh_token"],
                expires_at=datetime.now(UTC) + timedelta(seconds=int(token["expires_in"])),
                scopes=[SCOPE_READONLY]), client_id=EMULATOR_CLIENT_ID)
            return mailbox.id

    def workers(self, count: int, concurrency: int, extra: dict[str, str]) -> ExitStack:
        stack = ExitStack()
        env = dict(os.environ)
        s = self.settings
        assert s.api_key_pepper is not None
        env.update({
            "GATEWAY_ENVIRONMENT": "test", "GATEWAY_DATABASE_URL": s.database_url,
            "GATEWAY_DATA_DIR": str(s.data_dir), "GATEWAY_KEY_FILE": str(s.key_file),
            "GATEWAY_POLICY_ENGINE_URL": s.policy_engine_url or "",
            "GATEWAY_POLICY_DIR": str(s.policy_dir),
            "GATEWAY_API_KEY_PEPPER": s.api_key_pepper.get_secret_value(),
            "GATEWAY_EMULATOR_URL": s.emulator_url or "", "GATEWAY_LOG_LEVEL": "WARNING",
            "GATEWAY_SYNC_IDLE_SLEEP_SECONDS": "0.2", **extra})
        if not s.policy_engine_url:
            env.pop("GATEWAY_POLICY_ENGINE_URL")
        for _ in range(count):
            proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker",
                                     "--concurrency", str(concurrency)], cwd=ROOT, env=env)
            self.worker_pids.append(proc.pid)
            stack.callback(_stop, proc)
            stack.callback(self._note_cpu, proc.pid)  # runs before _stop (LIFO)
        return stack

    def _note_cpu(self, pid: int) -> None:
        self.worker_cpu[pid] = cpu_seconds(pid)

    def states(self) -> dict[uuid.UUID, MailboxSync]:
        with self.db.transaction() as session:
            rows = list(session.scalars(select(MailboxSync)))
            for row in rows:
                session.expunge(row)
            return {row.mailbox_id: row for row in rows}

    def readable_threads(self, mailbox_id: uuid.UUID, wanted: int) -> set[str]:
        """Thread ids of the newest messages readable through the API (enough pages)."""
        threads: set[str] = set()
        cursor = None
        while len(threads) < wanted * 2:
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            response = self.api.get(f"/v1/mailboxes/{mailbox_id}/messages", params=params,
                                    headers=self.headers)
            if response.status_code != 200:
                return threads
            body = response.json()
            threads.update(m["thread_id"] for m in body["items"])
            cursor = body.get("next_cursor")
            if not cursor:
                break
        return threads


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def newest_threads(emu: EmulatorControl, email: str, count: int) -> list[str]:
    seen: list[str] = []
    for message in emu.messages(email):  # newest first
        if message["threadId"] not in seen:
            seen.append(message["threadId"])
            if len(seen) == count:
                break
    return seen


def utilisation(series: list[tuple[float, int]], start: float, end: float, rate: float
               ) -> float | None:
    """Units the gateway recorded between start and end (its checkpoints) over rate x time."""
    inside = [(t, u) for t, u in series if start <= t <= end]
    if len(inside) < 2 or inside[-1][0] - inside[0][0] <= 0:
        return None
    (t0, u0), (t1, u1) = inside[0], inside[-1]
    return (u1 - u0) / (rate * (t1 - t0))


def window_fill(samples: list[tuple[float, int]], start: float, end: float, limit: int
                ) -> tuple[float | None, int]:
    """Google's view: the mean over [start, end] of the units in the user's moving window (as
    the emulator counts them when it receives each call) over the limit, and the sample count.
    In a steady state this is the spend rate over the allowed rate; it cannot pass 100%."""
    inside = [used for t, used in samples if start <= t <= end]
    if not inside:
        return None, 0
    return statistics.fmean(inside) / limit, len(inside)


def whole_run(units: int, seconds: float, limit: int, window: float) -> float | None:
    """Units over the most a moving window lets through in `seconds` from an empty start:
    `limit` per started window (spend it all at 0, W, 2W, ...)."""
    if seconds <= 0:
        return None
    return units / (limit * (int(seconds // window) + 1))


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
              f"(mean window use / limit, {samples} samples) {_pct(fill)}; the gateway's "
              f"units in that time / (250 units/s x time) {_pct(gateway)}")
        whole = whole_run(state.units_spent, steady_to - first_spend, units_per_window, window)
        print(f"quota utilisation, whole run (first unit..full sync complete, allowed = the "
              f"limit per started window): {_pct(whole)}")
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
              f"first unit..full sync complete): min {_pct(min(wholes))}, median "
              f"{_pct(statistics.median(wholes))}, max {_pct(max(wholes))}")
    if fills:
        print(f"per-mailbox utilisation, steady state (Google's view: mean window use / limit "
              f"from one window after the first unit to completion): min {_pct(min(fills))}, "
              f"median {_pct(statistics.median(fills))}, max {_pct(max(fills))} "
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
            client.batch_class = cls
            size = 0
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(ids), gmail_ops.MAX_BATCH):
                fetched = gmail_ops.get_batch(client, ids[start:start + gmail_ops.MAX_BATCH],
                                              RetryPolicy())
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


def phase_budget(bench: Bench, args: argparse.Namespace) -> None:
    """The quota budget alone: can it keep Google's window full without a 429? One thread
    sends batches of 50 `messages.get format=minimal` (5 units each, like format=raw, but tiny
    answers: the machine's CPU is not what limits) for --budget-seconds per round, through
    `GmailClient` + `MovingWindowBudget` at Google's rate, alternately with the budget as it
    was before (units leave 1 s after the send + window) and as it is (settled at the call's
    end). Google's view is sampled every 0.25 s (the emulator's per-user window)."""
    import threading

    from google.oauth2.credentials import Credentials

    from gateway.gmail.client import build_client
    from gateway.gmail.quota import Charge, MovingWindowBudget
    from gateway.gmail.retry import RetryPolicy
    from gateway.sync import gmail_ops

    class StampedAtSend(MovingWindowBudget):
        """The budget before settle: units leave `margin` after send + window."""

        def spend(self, units: int) -> Charge | None:
            charge = super().spend(units)
            if charge is not None:
                super().settle(charge)  # "ended" at its send
            return charge

        def settle(self, charge: Charge) -> None:
            pass

    window = args.window_seconds
    limit = int(GOOGLE_RATE * window)
    bench.emu.set_settings(quota_enabled=True, quota_units_per_minute=limit,
                           quota_window_seconds=window)
    print(f"\n== budget: one thread of 50-member batches at 250 units/s (window {window:g} s = "
          f"{limit} units), {args.budget_seconds:g} s per round; load average "
          f"{load_average()} ==")
    for round_no in range(args.budget_rounds):
        for name, budget in (
                ("before (send + 1 s)", StampedAtSend(limit, window_seconds=window,
                                                      margin_seconds=1.0)),
                ("settled at the end", MovingWindowBudget(limit, window_seconds=window))):
            email = f"budget-{round_no}-{len(name)}@example.com"
            bench.emu.add_user(email)
            bench.emu.seed(email, generate=50, seed=9)
            token = bench.emu.mint_tokens(email, [SCOPE_READONLY], client_id=EMULATOR_CLIENT_ID)
            client = build_client(Credentials(token["access_token"]), bench.settings,
                                  budget=budget)
            ids = [m["id"] for m in bench.emu.messages(email)]
            samples: list[tuple[float, int]] = []
            stop = threading.Event()

            sampler = threading.Thread(target=_sample_quota,
                                       args=(bench.emu, email, samples, stop))
            started = time.monotonic()
            sampler.start()
            while time.monotonic() - started < args.budget_seconds:
                gmail_ops.get_batch(client, ids, RetryPolicy(), fmt="minimal")
            stop.set()
            sampler.join()
            fill, count = window_fill(samples, started + window, started + args.budget_seconds,
                                      limit)
            rejected = bench.emu.quota(email)["rejections"]
            print(f"round {round_no + 1}, {name}: Google's window use / limit, steady state "
                  f"(after the first window, {count} samples) {_pct(fill)}; 429s seen "
                  f"{client.rate_limited}; emulator refusals so far (all users) {rejected}; "
                  f"load {load_average()}")


def _sample_quota(emu: EmulatorControl, email: str, samples: list[tuple[float, int]],
                  stop: Any) -> None:
    """Every 0.25 s: the units in the user's window as the emulator (Google) counts them."""
    while not stop.is_set():
        samples.append((time.monotonic(), int(emu.quota(email)["used"])))
        stop.wait(0.25)


def _decoded(message: dict[str, Any]) -> bytes:
    data = str(message["raw"])
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


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
    admin = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    if not admin:
        sys.exit("set GATEWAY_TEST_DATABASE_URL (an admin URL of a PostgreSQL server)")
    with ExitStack() as stack:
        url = stack.enter_context(database(admin))
        opa_url = stack.enter_context(policy_server())
        emu = stack.enter_context(emulator_process())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        settings = Settings(environment=Environment.test, database_url=url, data_dir=tmp,
                            key_file=tmp / "keys" / "kek.json", policy_engine_url=opa_url,
                            policy_dir=ROOT / "policies", api_key_pepper=SecretStr(PEPPER),
                            emulator_url=emu.base_url)
        api = stack.enter_context(TestClient(create_app(settings)))
        print(f"PostgreSQL, policy engine {'OPA server' if opa_url else 'embedded'}, "
              f"emulator process at {emu.base_url}; {os.cpu_count()} CPUs (shared), load "
              f"average {load_average()}")
        bench = Bench(settings, emu, api)
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
