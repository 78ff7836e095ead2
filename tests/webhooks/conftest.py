"""Webhook fixtures: a real HTTP receiver on 127.0.0.1 (a thread running http.server) that
answers with scripted status codes and records what it got, and the app's own crypto and log."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.audit.writer import OperationLog
from gateway.crypto import CryptoService
from gateway.runtime import runtime_of
from gateway.settings import Settings


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            me = box["receiver"]
            with me.lock:
                me.received.append(Received(self.path, dict(self.headers.items()), body))
            status = me.next_status()
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box["receiver"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box["receiver"]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def app_crypto(client: TestClient) -> CryptoService:
    crypto: CryptoService = runtime_of(client.app).crypto
    return crypto


@pytest.fixture
def oplog(client: TestClient) -> OperationLog:
    log: OperationLog = runtime_of(client.app).enforcer.oplog
    return log


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    """Short timeouts and a small attempt budget, so dead letters come quickly."""
    return settings.model_copy(update={
        "webhook_timeout_seconds": 5.0, "webhook_max_attempts": 4,
        "webhook_backoff_base_seconds": 10.0, "webhook_backoff_max_seconds": 60.0,
        "webhook_pass_seconds": 30.0})
