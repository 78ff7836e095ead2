"""The sync bench's world: the emulator and the OPA server in their own processes, a fresh
migrated database, the gateway app, worker processes and connected mailboxes
(bench/sync_bench.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from emulator.control import EmulatorControl
from gateway.accounts import service as accounts
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from gateway.oauth.flow import TokenGrant
from gateway.oauth.grants import store_tokens
from gateway.policy.vocabulary import SCOPE_READONLY
from gateway.runtime import runtime_of
from gateway.settings import Settings
from gateway.settings.google import EMULATOR_CLIENT_ID
from gateway.sync.models import MailboxSync

ROOT = Path(__file__).resolve().parents[1]
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
    from tests.support.database import migrated_database

    with migrated_database(admin_url, "gw_sync_bench") as url:
        yield url


@contextmanager
def policy_server() -> Iterator[str | None]:
    opa = Path(os.environ.get("GATEWAY_OPA_BINARY", ROOT / ".tools" / "bin" / "opa"))
    if not opa.exists():
        yield None
        return
    from tests.support.opa_process import run_opa_server

    with run_opa_server(opa, ROOT / "policies") as url:
        yield url


@contextmanager
def bench_world() -> Iterator[Bench]:
    """The sync benches' world: a fresh migrated PostgreSQL database (GATEWAY_TEST_DATABASE_URL
    names the server), an OPA server when the binary is built, the emulator in its own process,
    and the gateway app on them; exits if no PostgreSQL is named."""
    import tempfile

    from pydantic import SecretStr

    from gateway.app import create_app
    from gateway.settings import Environment

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
        yield Bench(settings, emu, stack.enter_context(TestClient(create_app(settings))))


class Bench:
    def __init__(self, settings: Settings, emu: EmulatorControl, api: TestClient) -> None:
        self.settings = settings
        self.emu = emu
        self.api = api
        self.db = Database.from_url(settings.database_url)
        self.crypto: CryptoService = runtime_of(api.app).crypto
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
