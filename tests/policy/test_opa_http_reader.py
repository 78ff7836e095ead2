"""KeepAliveOpaClient's HTTP/1.1 reader against answers OPA (or a proxy in front of it) may
give: chunked bodies, interim 100s, HTTP/1.0, `Connection: close`, garbled answers; and the v0
exchange byte for byte: what `query_value` sends, which 404 is "undefined" and which an error."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from gateway.policy.engines.opa_transport import KeepAliveOpaClient, UndefinedDocument
from tests.policy.test_opa_transport import _read_request, accept_loop

PACKAGE, RULE = "gateway.authz", "decision"


@pytest.fixture
def scripted() -> Iterator[tuple[int, list[list[bytes]], list[bytes]]]:
    """A server: each connection takes the next script (a list of raw answers, one per request,
    then the connection is closed); the requests it read are recorded."""
    scripts: list[list[bytes]] = []
    requests_seen: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            for answer in (scripts.pop(0) if scripts else []):
                request = _read_request(conn)
                if not request:
                    break
                requests_seen.append(request)
                conn.sendall(answer)

    thread = threading.Thread(target=accept_loop, args=(listener, stop, handle), daemon=True)
    thread.start()
    yield listener.getsockname()[1], scripts, requests_seen
    stop.set()
    thread.join(timeout=2)
    listener.close()


def ask(client: KeepAliveOpaClient) -> object:
    return client.query_rule(input_data={"a": 1}, package_path=PACKAGE, rule_name=RULE)


def test_chunked_interim_and_kept_alive_answers(
        scripted: tuple[int, list[list[bytes]], list[bytes]]) -> None:
    port, scripts, seen = scripted
    scripts.append([
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\n{\"res\r\n9\r\nult\": 1}\r\n0\r\nX-Trailer: y\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n"
        b"{\"result\": 2}",
        b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\nConnection: close\r\n\r\n{\"result\": 3}",
    ])
    scripts.append([b"HTTP/1.0 200 OK\r\n\r\n{\"result\": 4}"])
    client = KeepAliveOpaClient(host="127.0.0.1", port=port, timeout=2.0)
    assert ask(client) == {"result": 1}
    first = client._conn
    assert ask(client) == {"result": 2}
    assert client._conn is first  # the same connection
    assert ask(client) == {"result": 3}
    assert client._conn is None  # `Connection: close` honoured
    assert ask(client) == {"result": 4}  # HTTP/1.0, body delimited by the close
    assert client._conn is None
    assert len(seen) == 4
    head = seen[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0] == b"POST /v1/data/gateway/authz/decision HTTP/1.1"
    assert f"Host: 127.0.0.1:{port}".encode() in head
    assert b"Content-Length: 17" in head
    assert seen[0].endswith(b'\r\n\r\n{"input":{"a":1}}')


@pytest.mark.parametrize("garbled", [
    b"garbage\r\n\r\n",
    b"HTTP/1.1 abc OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}",  # then closed mid-body
    b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200 + b"\r\n{}",
])
def test_a_garbled_answer_is_resent_once_then_a_connection_error(
        scripted: tuple[int, list[list[bytes]], list[bytes]], garbled: bytes) -> None:
    port, scripts, seen = scripted
    scripts += [[garbled], [garbled]]
    client = KeepAliveOpaClient(host="127.0.0.1", port=port, timeout=2.0)
    with pytest.raises(requests.ConnectionError):
        ask(client)
    assert len(seen) == 2 and client._conn is None
    scripts.append([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"])
    assert ask(client) == {}  # and the next query works


def test_headers_with_line_breaks_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid header"):
        KeepAliveOpaClient(host="127.0.0.1", port=1, headers={"X-A": "b\r\nX-Injected: 1"})


def answer(status: str, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (f"HTTP/1.1 {status}\r\n".encode() + b"Content-Type: " + content_type
            + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)


UNDEFINED = answer("404 Not Found", b'{\n  "code": "undefined_document",\n  "message": '
                                    b'"document undefined: data.gateway.authz.decision"\n}\n')


def ask_v0(client: KeepAliveOpaClient) -> object:
    return client.query_value({"a": 1, "b": ["\u00e9", None]}, PACKAGE, RULE)


def test_v0_sends_the_input_itself_and_returns_the_value_as_is(
        scripted: tuple[int, list[list[bytes]], list[bytes]]) -> None:
    port, scripts, seen = scripted
    scripts.append([answer("200 OK", b'{"allow":true,"reasons":["r"],"obligations":{}}\n'),
                    answer("200 OK", b"false"), UNDEFINED,
                    answer("200 OK", b'["x"]')])
    client = KeepAliveOpaClient(host="127.0.0.1", port=port, timeout=2.0)
    assert ask_v0(client) == {"allow": True, "reasons": ["r"], "obligations": {}}
    first = client._conn
    assert ask_v0(client) is False
    with pytest.raises(UndefinedDocument, match="undefined_document"):
        ask_v0(client)
    assert ask_v0(client) == ["x"]
    assert client._conn is first  # one connection for all four, the undefined one included
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v0/data/gateway/authz/decision HTTP/1.1"
    assert body == b'{"a":1,"b":["\\u00e9",null]}'  # no {"input": ...}, compact, ASCII
    assert f"Content-Length: {len(body)}".encode() in lines
    assert b"Content-Type: application/json" in lines
    assert f"Host: 127.0.0.1:{port}".encode() in lines
    assert len(seen) == 4 and all(r == seen[0] for r in seen)


@pytest.mark.parametrize("status, body, content_type", [
    ("404 Not Found", b"404 page not found\n", b"text/plain; charset=utf-8"),  # OPA's router
    ("404 Not Found", b'{"code":"resource_not_found","message":"x"}', b"application/json"),
    ("404 Not Found", b'["undefined_document"]', b"application/json"),
    ("404 Not Found", b"<html>undefined_document</html>", b"text/html"),  # a proxy's page
    ("400 Bad Request", b'{"code":"undefined_document"}', b"application/json"),  # not a 404
    ("500 Internal Server Error", b'{"code":"internal_error"}', b"application/json"),
])
def test_v0_only_the_undefined_document_404_is_undefined(
        scripted: tuple[int, list[list[bytes]], list[bytes]],
        status: str, body: bytes, content_type: bytes) -> None:
    port, scripts, seen = scripted
    scripts.append([answer(status, body, content_type), UNDEFINED])
    client = KeepAliveOpaClient(host="127.0.0.1", port=port, timeout=2.0)
    with pytest.raises(requests.HTTPError, match=status.split()[0]):
        ask_v0(client)
    with pytest.raises(UndefinedDocument):  # the same connection, OPA's real answer
        ask_v0(client)
    assert len(seen) == 2  # the error was not retried


def test_v0_a_closed_connection_is_resent_once(
        scripted: tuple[int, list[list[bytes]], list[bytes]]) -> None:
    port, scripts, seen = scripted
    scripts += [[answer("200 OK", b"true")],  # then the server closes the kept-alive connection
                [answer("200 OK", b"false")]]
    client = KeepAliveOpaClient(host="127.0.0.1", port=port, timeout=2.0)
    assert ask_v0(client) is True
    assert ask_v0(client) is False  # the stale connection was replaced, the query resent
    assert len(seen) == 2
    scripts += [[], []]  # accepted and closed without an answer, twice: no third attempt
    client.close_connection()
    with pytest.raises(requests.ConnectionError):
        ask_v0(client)
    assert scripts == [] and client._conn is None
    scripts.append([UNDEFINED])
    with pytest.raises(UndefinedDocument):
        ask_v0(client)


def test_v0_garbage_is_a_json_error(
        scripted: tuple[int, list[list[bytes]], list[bytes]]) -> None:
    port, scripts, _seen = scripted
    scripts.append([answer("200 OK", b"<html>proxy</html>", b"text/html")])
    client = KeepAliveOpaClient(host="127.0.0.1", port=port, timeout=2.0)
    with pytest.raises(requests.JSONDecodeError):
        ask_v0(client)
