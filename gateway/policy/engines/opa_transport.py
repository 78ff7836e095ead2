"""opa-python-client with a cheap decision transport: the decision POST over one kept-alive socket.

Why: `OpaClient.query_rule` sends each decision through `requests` (Session -> PreparedRequest ->
HTTPAdapter -> urllib3 pool -> http.client). Measured in the same process against a constant
policy (bench/policy_bench.py, "floor" lines), that stack costs ~0.7-1.0 ms of client CPU per
decision; the same POST over one kept-alive `http.client.HTTPConnection` costs ~0.2 ms, and over
one kept-alive socket with the minimal HTTP/1.1 reader below (`_Connection`) ~0.07 ms. The
issue's latency target (p50 <= 0.5 ms per decision) is out of reach through `requests` whatever
the policy does, so the per-decision POST goes around it.

`KeepAliveOpaClient` IS an `OpaClient` (same constructor, same methods: health, policies, data,
ad-hoc queries keep using opa-python-client's `requests` session). Two decision methods use the
kept-alive connection:

- `query_rule` (opa-python-client's own, overridden with its signature, URL, body and return
  value): POST `{"input": ...}` to `/v1/data/<package>/<rule>`, the response JSON back (`{}` for
  an undefined rule, else `{"result": ...}`).
- `query_value` (what the OPA-server engine uses): POST the input document itself as the body to
  OPA's v0 Data API, `/v0/data/<package>/<rule>`, and get the rule's value itself back (no
  `{"result": ...}` wrapper). Why: OPA v1.22's v1 handler reads a `{"input": ...}` body through
  two JSON decoders (encoding/json scans it and hands it to `types.DataRequestV1.UnmarshalJSON`,
  whose `UnmarshalExtras` runs it through `util.UnmarshalJSON`'s own decoder, then walks the
  top-level keys for extras); v0 decodes the body once, as the input, before the same
  `ast.InterfaceToValue`. Measured on this 2-core VM: ~45 us less OPA CPU per decision (~10 %).
  v0 answers an undefined document with a 404 whose JSON body has `"code":
  "undefined_document"` (OPA v1.22 server.go, `v0QueryPath`); that one answer raises
  `UndefinedDocument` (the caller's "undefined", as `{}` is for v1), every other 404 (e.g.
  `404 page not found` from OPA's router) stays a `requests.HTTPError`. v0 takes no query
  parameters (no metrics, explain, provenance) and reads an empty body as input `null`.

Both raise the same exception types `requests` would:

- a status >= 400 -> `requests.HTTPError` (its `response` is None; status and OPA's body are in
  the message); a 5xx is not retried (as urllib3 never retries a POST on status);
- connect or read timeout (`timeout` seconds per socket operation, as `requests` applies it) ->
  `requests.ConnectTimeout` / `requests.ReadTimeout`; a timed-out connection is discarded;
- refused / reset / closed connection -> `requests.ConnectionError`, after **one** retry on a
  fresh connection (as urllib3's `Retry(total=1)` under `requests` retries a refused connection
  once; a kept-alive connection the server closed, e.g. a restarted sidecar, is also reopened
  once; a decision query is read-only, so resending it is safe);
- a body that is not JSON -> `requests.JSONDecodeError`.

One instance holds one connection and must be used by one thread at a time (the engine keeps
one client per thread). The connection honours `Connection: close` and reconnects lazily.

With `unix_socket=<path>` the decision connection is a Unix domain socket (OPA `--addr
unix://<path>`, a sidecar sharing a volume with the gateway): no TCP handshake, no loopback TCP
stack, no Nagle; the HTTP on it is the same (Host: localhost). docs/decisions/0009 measures it.
"""

from __future__ import annotations

import json
import socket
import ssl as ssl_module
from typing import Any
from urllib.parse import urlencode

import requests
from opa_client.opa import OpaClient

_MAX_LINE = 65536
_MAX_HEADERS = 100


class UndefinedDocument(LookupError):
    """OPA's v0 Data API answered that the document asked for is undefined (404, code
    `undefined_document`): the rule has no value for this input, or no rule is at that path.
    Not an HTTP failure: the caller decides what "undefined" means (the engine: deny)."""


class _ProtocolError(Exception):
    """The server's answer is not HTTP/1.x as this client reads it (treated as a lost
    connection: dropped, and the read-only query resent once)."""


class _Connection:
    """One kept-alive HTTP/1.1 connection: a socket and a buffered reader on it.

    Why not `http.client`: its request building and its header parsing (the `email` package)
    cost ~0.15 ms of client CPU per decision, half of what the whole OPA round trip may take
    (bench/policy_bench.py: 0.21-0.23 ms vs 0.07-0.08 ms for this reader, same server). The
    request is one `sendall`; the answer is read with C-level `readline`/`read` calls and only
    the framing headers are interpreted (Content-Length, chunked Transfer-Encoding, Connection).
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket | None = sock
        self._rfile = sock.makefile("rb")

    def close(self) -> None:
        sock, self.sock = self.sock, None
        self._rfile.close()
        if sock is not None:
            sock.close()

    def _line(self) -> bytes:
        line = self._rfile.readline(_MAX_LINE + 1)
        if not line:
            raise _ProtocolError("the server closed the connection")
        if len(line) > _MAX_LINE:
            raise _ProtocolError("header line too long")
        return line

    def _read(self, size: int) -> bytes:
        data = self._rfile.read(size)
        if len(data) < size:
            raise _ProtocolError("the server closed the connection mid-body")
        return data

    def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        """Send one request; (status, body, keep the connection open)."""
        assert self.sock is not None
        self.sock.sendall(request)
        while True:
            status_line = self._line()
            parts = status_line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise _ProtocolError(f"bad status line {status_line[:80]!r}")
            status = int(parts[1])
            length: int | None = None
            chunked = False
            keep_alive = parts[0] == b"HTTP/1.1"
            for _ in range(_MAX_HEADERS + 1):
                line = self._line()
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip())
                elif name == b"transfer-encoding":
                    chunked = value.strip().lower().endswith(b"chunked")
                elif name == b"connection":
                    tokens = value.strip().lower()
                    keep_alive = (b"close" not in tokens
                                  and (keep_alive or b"keep-alive" in tokens))
            else:
                raise _ProtocolError("too many headers")
            if 100 <= status < 200:  # an interim answer: the real one follows
                continue
            break
        if chunked:
            chunks = []
            while True:
                size = int(self._line().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self._line() not in (b"\r\n", b"\n"):  # trailers
                        pass
                    break
                chunks.append(self._read(size))
                self._line()  # the CRLF after each chunk
            body = b"".join(chunks)
        elif length is not None:
            if length < 0:
                raise _ProtocolError("negative Content-Length")
            body = self._read(length)
        elif status in (204, 304):
            body = b""
        else:  # delimited by the end of the connection
            body = self._rfile.read()
            keep_alive = False
        return status, body, keep_alive


class KeepAliveOpaClient(OpaClient):  # type: ignore[misc]  # opa_client is untyped
    """An `OpaClient` whose decision queries (`query_rule`, v1; `query_value`, v0) POST over one
    persistent HTTP/1.1 connection."""

    def __init__(self, *args: Any, unix_socket: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conn: _Connection | None = None
        self.unix_socket = unix_socket
        host = f"[{self.host}]" if ":" in str(self.host) else self.host  # an IPv6 literal
        if unix_socket is not None:
            if self.schema != "http://":
                raise ValueError("a Unix socket to OPA carries plain HTTP (no TLS)")
            host_header = "localhost"
        else:
            host_header = f"{host}:{self.port}"
        headers = {"Host": host_header, "Content-Type": "application/json",
                   "Accept": "application/json", **(self.headers or {})}
        for name, value in headers.items():
            if any(c in f"{name}{value}" for c in "\r\n\0") or ":" in name:
                raise ValueError(f"invalid header {name!r}")
        self._head_lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items()
                                   if k.lower() != "content-length")
        self._path_prefix = f"/{self.version}/data/"

    # --- the connection -----------------------------------------------------------------------

    def _new_connection(self) -> _Connection:
        if self.unix_socket is not None:
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                unix.settimeout(self.timeout)
                unix.connect(self.unix_socket)
            except BaseException:
                unix.close()
                raise
            return _Connection(unix)
        sock = socket.create_connection((self.host, int(self.port)), timeout=self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.schema == "https://":
                context = ssl_module.create_default_context()
                if isinstance(self.ssl, str):  # requests' `verify` may be a CA bundle path
                    context.load_verify_locations(self.ssl)
                if self.cert:
                    cert, key = (self.cert if isinstance(self.cert, tuple) else (self.cert, None))
                    context.load_cert_chain(cert, key)
                sock = context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close_connection(self) -> None:
        self._drop_connection()
        super().close_connection()

    def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST on the kept-alive connection; on a connection failure, once more on a new one."""
        url = self._where(path)
        request = (f"POST {path} HTTP/1.1\r\n{self._head_lines}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
        for attempt in (1, 2):
            conn = self._conn
            if conn is None or conn.sock is None:  # first use, or closed after `Connection: close`
                self._drop_connection()
                try:
                    conn = self._conn = self._new_connection()
                except TimeoutError as exc:
                    self._drop_connection()
                    raise requests.ConnectTimeout(f"cannot connect to {url} in time") from exc
                except OSError as exc:
                    self._drop_connection()
                    if attempt == 2:
                        raise requests.ConnectionError(f"cannot connect to {url}: {exc}") from exc
                    continue
            try:
                status, data, keep_alive = conn.exchange(request)
            except TimeoutError as exc:
                self._drop_connection()  # a late answer must not be read as the next one's
                raise requests.ReadTimeout(f"OPA did not answer {url} in time") from exc
            except (OSError, ValueError, _ProtocolError) as exc:
                # Reset, closed by the server (a restarted sidecar, an idle timeout), broken
                # pipe, a garbled answer: the query is read-only, so it is resent once on a new
                # connection.
                self._drop_connection()
                if attempt == 2:
                    raise requests.ConnectionError(
                        f"POST {url}: {type(exc).__name__}: {exc}") from exc
                continue
            if not keep_alive:
                self._drop_connection()
            return status, data
        raise AssertionError("unreachable")  # pragma: no cover

    # --- the decision API ---------------------------------------------------------------------

    def query_rule(self, input_data: dict[str, Any], package_path: str,
                   rule_name: str | None = None,
                   query_params: dict[str, Any] | None = None) -> Any:
        """As `OpaClient.query_rule`: POST {"input": input_data} to /v1/data/<package>/<rule>."""
        path = self._path_prefix + package_path.replace(".", "/")
        if rule_name:
            path = f"{path}/{rule_name}"
        if query_params:
            path = f"{path}?{urlencode(query_params)}"
        # allow_nan=False: a NaN is refused here (ValueError), as requests' json= refuses it
        body = json.dumps({"input": input_data}, separators=(",", ":"),
                          allow_nan=False).encode("utf-8")
        status, data = self._post(path, body)
        if status >= 400:
            raise self._http_error(status, path, data)
        return _json_body(data)

    def query_value(self, input_data: Any, package_path: str,
                    rule_name: str | None = None) -> Any:
        """The value of data.<package>.<rule> for `input_data`, through OPA's v0 Data API: POST
        the input document itself to /v0/data/<package>/<rule>; the answer is the value itself.
        Raises `UndefinedDocument` when OPA answers that the document is undefined, and the
        `requests` exception types of `query_rule` on every other failure."""
        path = "/v0/data/" + package_path.replace(".", "/")
        if rule_name:
            path = f"{path}/{rule_name}"
        body = json.dumps(input_data, separators=(",", ":"), allow_nan=False).encode("utf-8")
        status, data = self._post(path, body)
        if status == 404 and _is_undefined_document(data):
            raise UndefinedDocument(
                f"{path}: {data[:500].decode('utf-8', 'replace').strip()}")
        if status >= 400:
            raise self._http_error(status, path, data)
        return _json_body(data)

    def _where(self, path: str) -> str:
        if self.unix_socket is not None:
            return f"unix://{self.unix_socket}:{path}"
        return f"{self.schema}{self.host}:{self.port}{path}"

    def _http_error(self, status: int, path: str, data: bytes) -> requests.HTTPError:
        kind = "Client" if status < 500 else "Server"
        return requests.HTTPError(
            f"{status} {kind} Error for url {self._where(path)}: "
            f"{data[:500].decode('utf-8', 'replace')}")


def _json_body(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:  # json.JSONDecodeError, or bytes that are not UTF-8
        raise requests.JSONDecodeError(str(exc), data.decode("utf-8", "replace"), 0) from exc


def _is_undefined_document(data: bytes) -> bool:
    """OPA's own "undefined document" error body, and nothing else (a router's plain-text 404,
    a proxy's page, another error code)."""
    try:
        problem = json.loads(data)
    except ValueError:
        return False
    return isinstance(problem, dict) and problem.get("code") == "undefined_document"
