"""KeepAliveOpaClient: opa-python-client with the decision POST over a persistent socket.
Same interface and answers as OpaClient, one connection reused, one reconnect on a lost
connection, the same `requests` exception types on failure (real OPA, raw socket stubs); and
`query_value`, the same decision through OPA's v0 Data API (the input as the body, the value
back, undefined as `UndefinedDocument`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from opa_client.opa import OpaClient

from gateway.policy.engines.opa_transport import KeepAliveOpaClient, UndefinedDocument
from gateway.policy.engines.rego_input import prune_nulls
from tests.policy.conftest import POLICY_DIR
from tests.support.decision_table import TableCase
from tests.support.opa_process import OpaServerProcess, free_port

PACKAGE, RULE = "gateway.authz", "decision"


def client_for(port: int, timeout: float = 2.0) -> KeepAliveOpaClient:
    return KeepAliveOpaClient(host="127.0.0.1", port=port, timeout=timeout, retries=1)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.opa
def test_same_answers_as_opa_python_client_over_one_connection(
        opa_url: str, table_cases: list[TableCase]) -> None:
    ours = client_for(port_of(opa_url))
    theirs = OpaClient(host="127.0.0.1", port=port_of(opa_url), timeout=2.0)
    assert isinstance(ours, OpaClient)
    try:
        first_socket = None
        for case in table_cases:
            policy_input = prune_nulls(case.input)
            got = ours.query_rule(input_data=policy_input, package_path=PACKAGE, rule_name=RULE)
            assert got == theirs.query_rule(input_data=policy_input, package_path=PACKAGE,
                                            rule_name=RULE), case.name
            assert ours._conn is not None
            first_socket = first_socket or ours._conn.sock
            assert ours._conn.sock is first_socket, "the connection was not reused"
        # undefined: `{}`, as OpaClient returns it
        assert ours.query_rule(input_data={}, package_path=PACKAGE, rule_name="no_such_rule") == {}
        # query parameters reach OPA; the rest of opa-python-client's API still works
        with_metrics = ours.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE,
                                       query_params={"metrics": "true"})
        assert "timer_rego_query_eval_ns" in with_metrics["metrics"]
        assert ours.check_health() is True
        assert any(p.endswith("authz.rego") for p in ours.get_policies_list())
    finally:
        ours.close_connection()
        theirs.close_connection()
    assert ours._conn is None


@pytest.mark.opa
def test_v0_query_value_is_v1_result_over_the_same_connection(
        opa_url: str, table_cases: list[TableCase]) -> None:
    client = client_for(port_of(opa_url))
    try:
        allowed = 0
        for case in table_cases:
            policy_input = prune_nulls(case.input)
            value = client.query_value(policy_input, PACKAGE, RULE)
            assert value == client.query_rule(input_data=policy_input, package_path=PACKAGE,
                                              rule_name=RULE)["result"], case.name
            assert value["allow"] is case.allow, case.name
            allowed += value["allow"]
        assert 0 < allowed < len(table_cases)  # both answers were seen
        kept = client._conn.sock if client._conn else None
        assert kept is not None
        # an undefined rule and a path with no rule at all: OPA's 404 "undefined_document"
        # (messages "document undefined" / "document missing"), not an HTTP error
        with pytest.raises(UndefinedDocument, match="document undefined"):
            client.query_value({}, PACKAGE, "action_known")
        with pytest.raises(UndefinedDocument, match="document missing"):
            client.query_value({}, PACKAGE, "no_such_rule")
        assert client._conn is not None and client._conn.sock is kept  # the connection stays
        # the value itself, whatever its type (a list, a boolean)
        reasons = client.query_value({}, PACKAGE, "reasons")
        assert isinstance(reasons, list) and reasons == client.query_rule(
            input_data={}, package_path=PACKAGE, rule_name="reasons")["result"]
        assert client.query_value({}, PACKAGE, "allow") is False
    finally:
        client.close_connection()


@pytest.mark.opa
def test_v0_a_restarted_server_is_reached_transparently(opa_binary: Path) -> None:
    server = OpaServerProcess(opa_binary, POLICY_DIR)
    server.start()
    client = client_for(server.port)
    try:
        assert client.query_value({}, PACKAGE, RULE)["allow"] is False
        old_socket = client._conn.sock if client._conn else None
        server.stop()
        server.start()  # the kept-alive connection is dead: reopened once, the query resent
        assert client.query_value({}, PACKAGE, RULE)["allow"] is False
        assert client._conn is not None and client._conn.sock is not old_socket
        server.stop()
        with pytest.raises(requests.ConnectionError):
            client.query_value({}, PACKAGE, RULE)
    finally:
        client.close_connection()
        server.stop()


@pytest.mark.opa
def test_a_restarted_server_is_reached_on_a_new_connection(opa_binary: Path) -> None:
    server = OpaServerProcess(opa_binary, POLICY_DIR)
    server.start()
    client = client_for(server.port)
    try:
        assert "result" in client.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE)
        old_socket = client._conn.sock if client._conn else None
        server.stop()
        with pytest.raises(requests.ConnectionError):
            client.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE)
        assert client._conn is None  # the dead connection was dropped
        server.start()
        assert "result" in client.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE)
        # restart again between two queries: the stale kept-alive connection is replaced once,
        # transparently (the query is read-only)
        server.stop()
        server.start()
        assert "result" in client.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE)
        assert client._conn is not None and client._conn.sock is not old_socket
    finally:
        client.close_connection()
        server.stop()


ANSWERS = {
    "ok": ("200 OK", b"{}"),
    "500": ("500 Internal Server Error", b'{"code":"internal_error"}'),
    "400": ("400 Bad Request", b'{"code":"invalid_parameter"}'),
    "garbage": ("200 OK", b"<html>proxy error</html>"),
}


@pytest.fixture
def raw_server() -> Iterator[tuple[int, list[str]]]:
    """A TCP server whose behaviour per connection is popped from the list it yields:
    "silent" (read the request, never answer), "drop" (read it, close), or one of ANSWERS
    (answer without `Connection: close`, then close: the client finds out on its next query)."""
    behaviours: list[str] = []
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)  # not the listener's 0.2 s poll (a slow client under load)
            accepted.append(conn)
            behaviour = behaviours.pop(0) if behaviours else "ok"
            conn.recv(65536)
            if behaviour == "drop":
                conn.close()
            elif behaviour in ANSWERS:
                status, body = ANSWERS[behaviour]
                conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                conn.close()  # (one answer per connection: the client must reconnect)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], behaviours
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_silent_server_is_a_read_timeout_not_retried(raw_server: tuple[int, list[str]]) -> None:
    port, behaviours = raw_server
    behaviours += ["silent", "ok"]
    client = client_for(port, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        client.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE)
    assert time.monotonic() - started < 1.0  # one timeout, no second attempt
    assert client._conn is None  # a late answer cannot be read as the next query's
    assert behaviours == ["ok"]
    assert client.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE) == {}


def test_a_dropped_connection_is_retried_once_then_fails(raw_server: tuple[int, list[str]]) -> None:
    port, behaviours = raw_server
    client = client_for(port)
    behaviours += ["drop", "ok"]
    assert client.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE) == {}
    behaviours += ["drop", "drop", "ok"]
    client.close_connection()
    with pytest.raises(requests.ConnectionError):
        client.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE)
    assert behaviours == ["ok"]


def test_nothing_listening_is_a_connection_error() -> None:
    client = client_for(free_port(), timeout=0.5)
    with pytest.raises(requests.ConnectionError):
        client.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE)


def test_http_errors_and_garbage_raise_the_requests_types(
        raw_server: tuple[int, list[str]]) -> None:
    port, behaviours = raw_server
    client = client_for(port)
    behaviours += ["500", "400", "garbage"]
    with pytest.raises(requests.HTTPError, match="500 Server Error"):
        client.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE)
    with pytest.raises(requests.HTTPError, match="invalid_parameter"):
        client.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE)
    with pytest.raises(requests.JSONDecodeError):
        client.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE)
    assert behaviours == []  # none of them was retried


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def accept_loop(listener: socket.socket, stop: threading.Event,
                handle: Callable[[socket.socket], None]) -> None:
    """Accept connections on `listener` (with a short timeout) until `stop`, handing each to
    `handle` in turn (test servers: one connection at a time)."""
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        handle(conn)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return data


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server (self-signed certificate) answering every POST with `{}`."""
    import ssl

    cert_path, key_path = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def handle(raw: socket.socket) -> None:
        try:
            with context.wrap_socket(raw, server_side=True) as conn:
                _read_request(conn)  # all of it: unread bytes at close would send a RST
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
        except (ssl.SSLError, OSError):
            raw.close()

    thread = threading.Thread(target=accept_loop, args=(listener, stop, handle), daemon=True)
    thread.start()
    yield listener.getsockname()[1], cert_path
    stop.set()
    thread.join(timeout=2)
    listener.close()


def test_https_verifies_the_server_certificate(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    untrusting = KeepAliveOpaClient(host="127.0.0.1", port=port, ssl=True, timeout=2.0)
    with pytest.raises(requests.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusting.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE)
    trusting = KeepAliveOpaClient(host="127.0.0.1", port=port, ssl=str(ca), timeout=2.0)
    assert trusting.query_rule(input_data={}, package_path=PACKAGE, rule_name=RULE) == {}
    assert trusting._conn is None  # `Connection: close` was honoured


def test_a_value_that_is_not_json_is_refused_before_sending(
        raw_server: tuple[int, list[str]]) -> None:
    port, behaviours = raw_server
    behaviours += ["500"]
    client = client_for(port)
    with pytest.raises(ValueError):
        client.query_rule(input_data={"x": float("nan")}, package_path=PACKAGE, rule_name=RULE)
    with pytest.raises(ValueError):
        client.query_value({"x": float("inf")}, PACKAGE, RULE)
    assert behaviours == ["500"] and client._conn is None  # nothing was sent
