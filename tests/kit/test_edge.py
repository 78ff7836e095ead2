"""The HTTP edge over a real socket: the app under uvicorn with the gateway's own protocol
(`gateway.kit.edge.EdgeProtocol`), as `gmail-gateway serve` runs it. Answers made below the app
(malformed requests, the connection limit) and a stalled request body are problem+json."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import Request
from pydantic import SecretStr

from gateway.app import create_app
from gateway.kit.edge import EdgeProtocol
from gateway.kit.serving import TcpConfig
from gateway.settings import Environment, Settings
from tests.support.world import TEST_PEPPER

BODY_TIMEOUT = 0.5
MAX_CONNECTIONS = 3
# How long a client waits for an answer here: far beyond the body timeout, so a server holding
# the connection fails the test instead of passing by luck.
CLIENT_PATIENCE = 20.0
BODY_PROBE = "/test-only/body-length"


@dataclass
class Served:
    port: int


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    settings = Settings(environment=Environment.test, api_key_pepper=SecretStr(TEST_PEPPER),
                        http_body_read_timeout_seconds=BODY_TIMEOUT)
    app = create_app(settings)

    async def body_length(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    # A route of this test only, behind the app's whole middleware stack: it reads the body and
    # needs no database (this server runs without its lifespan).
    app.add_api_route(BODY_PROBE, body_length, methods=["POST"])
    config = TcpConfig(app, host="127.0.0.1", port=0, lifespan="off", log_level="error",
                       http=EdgeProtocol, max_connections=MAX_CONNECTIONS)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield Served(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def connect(served: Served) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", served.port), timeout=CLIENT_PATIENCE)
    return conn


def read_answer(conn: socket.socket) -> tuple[int, dict[str, str], bytes, bool]:
    """Status, headers, body of one response, and whether the server then closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    closed = conn.recv(1) == b""
    return status, headers, body, closed


def assert_problem(status: int, headers: dict[str, str], body: bytes, code: str) -> None:
    assert headers["content-type"] == "application/problem+json", headers
    problem = json.loads(body)
    assert problem["status"] == status and problem["code"] == code, problem
    assert problem["type"].endswith("/" + code) and problem["instance"].startswith("/")
    assert problem["request_id"] and problem["title"] and problem["detail"]


def test_a_stalled_body_is_answered_408_and_the_connection_closed(served: Served) -> None:
    with connect(served) as conn:
        conn.sendall(b"POST /v1/webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 1000\r\n\r\n" + b'{"url": "h')
        status, headers, body, closed = read_answer(conn)
    assert status == 408
    assert_problem(status, headers, body, "request_timeout")
    assert closed


def test_a_body_sent_in_slow_parts_is_read_whole(served: Served) -> None:
    """Silence is cut off, not slowness: each part arrives within the timeout."""
    payload = b'{"message": {"data": "e30=", "messageId": "1"}, "subscription": "s"}'
    with connect(served) as conn:
        conn.sendall(f"POST {BODY_PROBE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     f"Content-Length: {len(payload)}\r\n\r\n".encode())
        for n in range(0, len(payload), 12):
            time.sleep(BODY_TIMEOUT / 3)
            conn.sendall(payload[n:n + 12])
        status, _, body, _ = read_answer(conn)
    assert status == 200, body
    assert json.loads(body) == {"length": len(payload)}


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    [b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000, b"\r\n\r\n"],
    b"POST /v1/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n",
    b"POST /v1/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: five\r\n\r\n",
    b"GET /v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=["garbage-line", "oversized-header", "two-content-lengths", "bad-content-length",
        "non-ascii-path"])
def test_malformed_requests_are_answered_as_problems(
        served: Served, request_bytes: bytes | list[bytes]) -> None:
    with connect(served) as conn:
        # Headers are measured while incomplete: the oversized one arrives in two parts.
        for part in request_bytes if isinstance(request_bytes, list) else [request_bytes]:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # answered early
                conn.sendall(part)
            time.sleep(0.2)
        status, headers, body, closed = read_answer(conn)
    assert status == 400
    assert_problem(status, headers, body, "malformed_request")
    assert headers["x-request-id"] == json.loads(body)["request_id"]
    assert closed


def test_a_connection_beyond_the_limit_gets_503_and_the_others_are_served(
        served: Served) -> None:
    held = [connect(served) for _ in range(MAX_CONNECTIONS)]
    try:
        for conn in held:  # each is open and served (keep-alive)
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = conn.recv(65536)
            assert data.startswith(b"HTTP/1.1 200"), data[:80]
        with connect(served) as extra:
            status, headers, body, closed = read_answer(extra)
        assert status == 503 and headers["retry-after"] == "1"
        assert_problem(status, headers, body, "connection_limit")
        assert closed
    finally:
        for conn in held:
            conn.close()
    deadline = time.monotonic() + CLIENT_PATIENCE
    while True:  # the closed ones are forgotten: a new connection is served again
        with connect(served) as again:
            again.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status, _, _, _ = read_answer(again)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("OPTIONS", "/v1/webhooks/x", "GET, PATCH, DELETE"),
    ("PUT", "/v1/webhooks", "GET, POST"),
    ("OPTIONS", "/v1/mailboxes/x/messages/send", "POST"),
    ("PUT", "/v1/mailboxes/x/labels/y", "PATCH, DELETE"),
])
def test_405_lists_every_method_of_the_path(served: Served, method: str, path: str,
                                            allow: str) -> None:
    with connect(served) as conn:
        conn.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     .encode())
        status, headers, body, _ = read_answer(conn)
    assert status == 405 and headers["allow"] == allow
    assert_problem(status, headers, body, "method_not_allowed")
