"""The world bench/mail_read_bench.py reads: a fresh migrated database seeded with one tenant,
a CRM service key and a mailbox of 200 sealed messages with 50 KB bodies, and the gateway
serving it in a subprocess.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_SCRIPT = Path(__file__).resolve().with_name("mail_read_bench.py")
PEPPER = "bench-pepper-0123456789abcdef"
MESSAGES = 200
BODY_BYTES = 50_000

# --- the world ----------------------------------------------------------------------------------

@dataclass
class World:
    mailbox_id: str
    gmail_ids: list[str]
    api_key: str


def body_text(rng: random.Random, size: int) -> str:
    words = ["meeting", "contract", "renewal", "invoice", "quarter", "customer", "pricing",
             "delivery", "schedule", "follow-up", "proposal", "thanks", "regards", "team"]
    out: list[str] = []
    length = 0
    while length < size:
        line = " ".join(rng.choice(words) for _ in range(12)) + "\n"
        out.append(line)
        length += len(line)
    return "".join(out)[:size]


def raw_message(rng: random.Random, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Carol {n} <carol{n}@customer.example>"
    msg["To"] = "alice@bench.example"
    msg["Cc"] = "sales@bench.example"
    msg["Subject"] = f"Renewal of contract #{n}"
    msg["Date"] = "Tue, 10 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = f"<bench-{n}@customer.example>"
    msg.set_content(body_text(rng, BODY_BYTES))
    return bytes(msg)


def seed(database_url: str, settings_env: dict[str, str]) -> World:
    """Tenant, CRM key and `MESSAGES` stored messages, written on a runtime of the bench's
    settings (its database is `database_url`)."""
    from gateway.accounts import service as accounts
    from gateway.mail.store.repository import MessageStore
    from gateway.mailboxes.models import Mailbox
    from gateway.policy.vocabulary import SCOPE_READONLY, SCOPE_SEND
    from gateway.runtime import build_runtime
    from gateway.settings import Settings

    settings = Settings(**{k.removeprefix("GATEWAY_").lower(): v
                           for k, v in settings_env.items()})
    assert settings.database_url == database_url
    rng = random.Random(9)
    with build_runtime(settings, domain_services=lambda rt: [MessageStore(rt.crypto)]) as rt:
        db, store = rt.database, rt.service(MessageStore)
        with db.transaction() as s:
            tenant = accounts.create_tenant(s, "bench")
            owner = accounts.create_principal(s, tenant, "end_user", "alice@bench.example")
            crm = accounts.create_principal(s, tenant, "crm_service", "crm-backend")
            key = accounts.create_api_key(s, rt.api_key_pepper, crm).secret
            mailbox = Mailbox(tenant_id=tenant.id, owner_principal_id=owner.id,
                              granted_scopes=[SCOPE_READONLY, SCOPE_SEND])
            s.add(mailbox)
            s.flush()
            mailbox_id = str(mailbox.id)
        gmail_ids = []
        for n in range(MESSAGES):
            gmail_id = f"{0x18c0000000000000 + n:x}"
            with db.transaction() as s:
                box = s.get(Mailbox, uuid.UUID(mailbox_id))
                assert box is not None
                store.put(s, box, gmail_id=gmail_id, thread_id=f"t{n // 4:015x}",
                          raw=raw_message(rng, n), label_ids=["INBOX", "UNREAD"])
            gmail_ids.append(gmail_id)
    return World(mailbox_id=mailbox_id, gmail_ids=gmail_ids, api_key=key)


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    from tests.support.database import migrated_database

    with migrated_database(admin_url, "gw_bench_read") as url:
        yield url


def vacuum_analyze(url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def gateway_server(env: dict[str, str], workers: int, log_file: Path
                   ) -> Iterator[tuple[int, int]]:
    port = free_port()
    command = [sys.executable, str(BENCH_SCRIPT), "--serve", str(port),
               "--workers", str(workers)]
    with log_file.open("ab") as log:
        proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=log,
                                stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the gateway exited; see {log_file}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                        0.2):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("the gateway did not start within 60 s")
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
