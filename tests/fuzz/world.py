"""What the fuzzer runs against: the real app served by uvicorn over real HTTP on 127.0.0.1
(PostgreSQL, the OPA server, the Google emulator), two tenants with API keys of every actor
kind, a mailbox connected through real OAuth consent at the emulator, and messages both in the
emulator and in the encrypted store under the same Gmail ids, so generated requests can name
rows that exist."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from emulator.testing import RunningEmulator
from gateway.app import create_app
from gateway.kit.db import Database
from gateway.kit.logs import request_id_var
from gateway.mailboxes.models import Mailbox
from gateway.runtime import runtime_of
from gateway.settings import Settings
from tests.google_world import (
    CLIENT_ID,
    CLIENT_SECRET,
    GOOGLE_ALICE,
    GOOGLE_BOB,
    REDIRECT_URI,
    connect,
)
from tests.mail.factories import make_raw, store_message
from tests.support.database import empty_tables
from tests.support.world import TenantWorld, build_tenant

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


@dataclass
class Caller:
    name: str
    headers: dict[str, str]


@dataclass
class FuzzTarget:
    base_url: str
    app: FastAPI
    callers: list[Caller]
    # Real rows, each as coherent path parameters: {"mailbox_id": m, "message_id": i,
    # "thread_id": t} names a message of that mailbox; ids the API hands out during the run
    # are added with the parameters of the request that created or listed them.
    records: list[dict[str, str]]
    secrets: list[str]                       # API keys: never echoed in a response
    server_errors: dict[str, list[str]] = field(default_factory=dict)  # request id -> traceback

    def remember(self, record: dict[str, str]) -> None:
        if record not in self.records and len(self.records) < 400:
            self.records.append(record)


class _ServerErrorLog(logging.Handler):
    """Collects what the server logged about a failed request (tracebacks stay in-process)."""

    def __init__(self, sink: dict[str, list[str]]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.ERROR and record.exc_info is None:
            return
        rid = request_id_var.get() or "-"
        lines = [f"{record.name}: {record.getMessage()}"]
        if record.exc_info and record.exc_info[1] is not None:
            lines += summarise_exception(record.exc_info[1])
        self.sink.setdefault(rid, []).extend(lines)


def summarise_exception(exc: BaseException) -> list[str]:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/gateway/" in f.filename] or list(frames)
    where = [f"  at {f.filename.split('/work/main/')[-1]}:{f.lineno} in {f.name}"
             for f in ours[-4:]]
    return [f"{type(exc).__name__}: {str(exc)[:300]}", *where]


def _tcp_socket() -> socket.socket:
    # proto TCP so that asyncio sets TCP_NODELAY on accepted connections (see emulator.testing).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@dataclass
class _Served:
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket


def serve(app: FastAPI) -> _Served:
    sock = _tcp_socket()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="fuzz-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    return _Served(f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread, sock)


def _seed_messages(database: Database, crypto: Any, emu: RunningEmulator, mailbox: Mailbox,
                   records: list[dict[str, str]], tag: str, *, in_emulator: bool) -> None:
    specs = [
        ("Contract for Q1", "Please sign.", "Carol <carol@customer.example>", PDF),
        ("Re: Contract for Q1", "Signed.", "alice@example.com", None),
        ("Lunch?", "Noon?", "dave@other.example", None),
        ("Invoice 42", "Attached.", "billing@vendor.example", b"invoice\x00\x01" * 50),
    ]
    thread_id: str | None = None
    for n, (subject, body, sender, attachment) in enumerate(specs):
        raw = make_raw(f"{subject} [{tag}]", body, sender=sender, to=GOOGLE_ALICE,
                       attachment=attachment)
        labels = ["INBOX", "UNREAD"] if n % 2 == 0 else ["INBOX", "IMPORTANT"]
        if in_emulator:
            delivered = emu.control.deliver(GOOGLE_ALICE, raw, labels,
                                            thread_id=thread_id if n == 1 else None)
            gmail_id, thread = str(delivered["id"]), str(delivered["threadId"])
        else:
            gmail_id, thread = f"{tag}{n:014x}", f"{tag}t{n // 2:013x}"
        thread_id = thread
        store_message(database, crypto, mailbox, gmail_id, thread, raw, labels)
        box = str(mailbox.id)
        records.append({"mailbox_id": box, "message_id": gmail_id, "thread_id": thread,
                        "label_id": labels[-1], "part_id": "2" if attachment else "1"})


def _callers(a: TenantWorld, b: TenantWorld) -> list[Caller]:
    callers = [Caller(f"a.{kind}", {"Authorization": f"Bearer {getattr(a, kind).key}"})
               for kind in ("crm", "end_user", "operator", "reviewer", "analytics",
                            "other_user")]
    callers += [Caller("b.crm", {"Authorization": f"Bearer {b.crm.key}"}),
                Caller("b.end_user", {"Authorization": f"Bearer {b.end_user.key}"}),
                Caller("anonymous", {}),
                Caller("bad-key", {"Authorization": "Bearer gmgw_notakey0000000000000000"})]
    return callers


def truncate_all(database: Database) -> None:
    empty_tables(database)


@pytest.fixture(scope="module")
def fuzz_target(database: Database, oauth_settings: Settings,
                oauth_session_client: TestClient, emu: RunningEmulator,
                ) -> Iterator[FuzzTarget]:
    truncate_all(database)
    emu.control.reset()
    emu.control.register_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI], name="Acme CRM")
    emu.control.add_user(GOOGLE_ALICE, "Alice Example")
    emu.control.add_user(GOOGLE_BOB, "Bob Example")
    a = build_tenant(database, "fuzz-a")
    b = build_tenant(database, "fuzz-b")
    connected = connect(oauth_session_client, emu, a, ["read", "send", "organise", "labels"])
    assert "mailbox_id" in connected.outcome, connected.outcome
    crypto = runtime_of(oauth_session_client.app).crypto
    records: list[dict[str, str]] = []
    with database.transaction() as s:
        live = s.get(Mailbox, connected.mailbox_id)
        assert live is not None
        s.expunge(live)
    _seed_messages(database, crypto, emu, live, records, "live", in_emulator=True)
    _seed_messages(database, crypto, emu, a.mailbox, records, "a", in_emulator=False)
    _seed_messages(database, crypto, emu, b.mailbox, records, "b", in_emulator=False)
    for label in ("INBOX", "STARRED", "TRASH"):
        records.append({"mailbox_id": str(live.id), "label_id": label})

    app = create_app(oauth_settings)
    errors: dict[str, list[str]] = {}
    handler = _ServerErrorLog(errors)
    root = logging.getLogger()
    root.addHandler(handler)
    served = serve(app)
    database_engine = runtime_of(app).database.engine

    @event.listens_for(database_engine, "handle_error")
    def _db_error(context: Any) -> None:
        rid = request_id_var.get() or "-"
        errors.setdefault(rid, []).extend(
            ["database: " + summarise_exception(context.original_exception)[0],
             "  statement: " + str(context.statement or "")[:200]])

    secrets = [getattr(w, kind).key for w in (a, b) for kind in
               ("crm", "end_user", "operator", "reviewer", "analytics", "other_user")]
    try:
        yield FuzzTarget(served.base_url, app, _callers(a, b), records, secrets, errors)
    finally:
        served.server.should_exit = True
        served.thread.join(timeout=15)
        served.sock.close()
        root.removeHandler(handler)
        truncate_all(database)


def new_request_id() -> str:
    return "fuzz-" + uuid.uuid4().hex[:20]


# The caller of each actor kind, in the order tried: the first kind the policy lets perform an
# action (policies/data.json, `capabilities`) is the one the coverage phase sends as.
KIND_CALLERS = {"crm_service": "a.crm", "end_user": "a.end_user", "reviewer": "a.reviewer",
                "operator": "a.operator", "analytics": "a.analytics"}
POLICY_DATA = Path(__file__).resolve().parents[2] / "policies" / "data.json"


def capable_caller(target: FuzzTarget, action: str | None) -> Caller:
    capabilities = json.loads(POLICY_DATA.read_text())["gateway"]["tables"]["capabilities"]
    name = next((n for kind, n in KIND_CALLERS.items()
                 if (action or "") in capabilities.get(kind, {})), "a.crm")
    return next(c for c in target.callers if c.name == name)
