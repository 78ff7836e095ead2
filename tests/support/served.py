"""A gateway as an operator runs it, for black-box tests: `python -m gateway.cli serve` in its
own process (uvicorn exactly as shipped), configured only through GATEWAY_* variables, on
PostgreSQL with the OPA server or on SQLite with the embedded engine. Tests reach it over HTTP
and read what it wrote from the database, nothing else.

Two tenants are set up in the database directly (tenants, principals and API keys are what an
operator creates with the CLI); tenant B also gets stored messages, a webhook endpoint and a
consent grant, so probes can name ids that exist elsewhere."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.settings import Settings
from tests.mail.factories import make_raw, store_message
from tests.support.world import ROOT, TEST_PEPPER, TenantWorld, build_tenant, make_settings

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gateway_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    # Nothing of the test machine's own GATEWAY_* or uvicorn settings (FORWARDED_ALLOW_IPS):
    # the server runs with its shipped defaults plus what the test sets.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GATEWAY_") and k != "FORWARDED_ALLOW_IPS"}
    env.update({
        "GATEWAY_ENVIRONMENT": "test", "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_KEY_FILE": str(settings.key_file),
        "GATEWAY_POLICY_DIR": str(ROOT / "policies"), "GATEWAY_API_KEY_PEPPER": TEST_PEPPER,
        "GATEWAY_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
    })
    if settings.policy_engine_url:
        env["GATEWAY_POLICY_ENGINE_URL"] = settings.policy_engine_url
    env.update(extra or {})
    return env


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]

    def request(self, method: str, path: str, headers: list[tuple[str, str]] | None = None,
                body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request with exactly these header lines (repeated names stay repeated)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in headers or []:
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read())
        finally:
            conn.close()


@contextmanager
def serve_gateway(settings: Settings, extra_env: Mapping[str, str] | None = None,
                  *, migrate: bool = False, workers: int = 1) -> Iterator[Served]:
    port = free_port()
    command = [sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]
    if migrate:
        command.append("--migrate")
    process = subprocess.Popen(command, env=gateway_env(settings, extra_env), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    served = Served(port, process)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"the gateway exited: {err[-2000:]}")
            try:
                if served.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.1)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


@dataclass
class World:
    """Two tenants: A probes, B owns the ids A must not see."""

    db: Database
    a: TenantWorld
    b: TenantWorld
    b_message: str
    b_thread: str
    b_endpoint: str | None = None
    b_grant: str | None = None
    b_session: str | None = None


def blackbox_settings(database_url: str, tmp: Path, opa_url: str | None) -> Settings:
    settings = make_settings(database_url, tmp, opa_url)
    CryptoService.from_settings(settings).close()  # the key file the server will use
    return settings


def build_world(db: Database, settings: Settings, suffix: str) -> World:
    a = build_tenant(db, f"bb-a-{suffix}")
    b = build_tenant(db, f"bb-b-{suffix}")
    crypto = CryptoService.from_settings(settings)
    try:
        gmail_id, thread_id = f"b{uuid.uuid4().hex[:15]}", f"t{uuid.uuid4().hex[:15]}"
        store_message(db, crypto, b.mailbox, gmail_id, thread_id, make_raw("Quote", "text"))
        store_message(db, crypto, a.mailbox, f"a{uuid.uuid4().hex[:15]}",
                      f"u{uuid.uuid4().hex[:15]}", make_raw("Hello", "text"))
    finally:
        crypto.close()
    return World(db, a, b, gmail_id, thread_id)


def headers_of(key: str | None, purpose: str | None = "user_facing",
               **extra: str) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = [("X-Request-Id", f"bb-{uuid.uuid4().hex}")]
    if key is not None:
        lines.append(("Authorization", f"Bearer {key}"))
    if purpose is not None:
        lines.append(("Gateway-Purpose", purpose))
    lines += [(name.replace("_", "-"), value) for name, value in extra.items()]
    return lines


def request_id(lines: list[tuple[str, str]]) -> str:
    return next(v for k, v in lines if k == "X-Request-Id")


def entries_for(db: Database, rid: str) -> list[AuditEntry]:
    with db.transaction() as s:
        found = list(s.scalars(select(AuditEntry).where(AuditEntry.request_id == rid)))
        for entry in found:
            s.expunge(entry)
        return found


def shape(entry: AuditEntry) -> dict[str, Any]:
    """What an entry says, without the values that differ between two probes."""
    return {"decision": entry.decision, "reasons": list(entry.reasons),
            "operation": entry.operation, "resource_type": entry.resource_type,
            "mailbox_id": entry.mailbox_id, "ids": len(entry.resource_ids),
            "policy_revision": entry.policy_revision, "actor_id": entry.actor_id,
            "tenant_id": entry.tenant_id, "detail": dict(entry.detail)}
