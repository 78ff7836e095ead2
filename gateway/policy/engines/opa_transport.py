"""opa-python-client with a cheap decision transport: the decision POST over `http.client`.

Why: `OpaClient.query_rule` sends each decision through `requests` (Session -> PreparedRequest ->
HTTPAdapter -> urllib3 pool -> http.client). Measured in the same process against a constant
policy (bench/policy_bench.py, "floor" lines), that stack costs ~0.7-1.0 ms of client CPU per
decision; the same POST over one kept-alive `http.client.HTTPConnection` costs ~0.2 ms. The
issue's latency target (p50 <= 0.5 ms per decision) is out of reach through `requests` whatever
the policy does, so the per-decision POST goes around it.

`KeepAliveOpaClient` IS an `OpaClient` (same constructor, same methods: health, policies, data,
ad-hoc queries keep using opa-python-client's `requests` session); only `query_rule` is
overridden, keeping its signature, URL, body (`{"input": ...}`) and return value (the response
JSON: `{}` for an undefined rule), and raising the same exception types `requests` would:

- a status >= 400 -> `requests.HTTPError` (its `response` is None; status and OPA's body are in
  the message); a 5xx is not retried (as before: urllib3 never retries a POST on status);
- connect or read timeout (`timeout` seconds per socket operation, as `requests` applies it) ->
  `requests.ConnectTimeout` / `requests.ReadTimeout`; a timed-out connection is discarded;
- refused / reset / closed connection -> `requests.ConnectionError`, after **one** retry on a
  fresh connection (the old client's urllib3 `Retry(total=1)` retried a refused connection once;
  here a kept-alive connection the server closed, e.g. a restarted sidecar, is also reopened
  once; a decision query is read-only, so resending it is safe);
- a body that is not JSON -> `requests.JSONDecodeError`.

One instance holds one connection and must be used by one thread at a time (the engine keeps
one client per thread). The connection honours `Connection: close` and reconnects lazily.
"""

from __future__ import annotations

import http.client
import json
import ssl as ssl_module
from typing import Any
from urllib.parse import urlencode

import requests
from opa_client.opa import OpaClient


class KeepAliveOpaClient(OpaClient):  # type: ignore[misc]  # opa_client is untyped
    """An `OpaClient` whose `query_rule` POSTs over one persistent `http.client` connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conn: http.client.HTTPConnection | None = None
        self._post_headers = {"Content-Type": "application/json", "Accept": "application/json",
                              **(self.headers or {})}
        self._path_prefix = f"/{self.version}/data/"

    # --- the connection -----------------------------------------------------------------------

    def _new_connection(self) -> http.client.HTTPConnection:
        if self.schema == "https://":
            context = ssl_module.create_default_context()
            if isinstance(self.ssl, str):  # requests' `verify` may be a CA bundle path
                context.load_verify_locations(self.ssl)
            if self.cert:
                cert, key = (self.cert if isinstance(self.cert, tuple) else (self.cert, None))
                context.load_cert_chain(cert, key)
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                               context=context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close_connection(self) -> None:
        self._drop_connection()
        super().close_connection()

    def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST on the kept-alive connection; on a connection failure, once more on a new one."""
        url = f"{self.schema}{self.host}:{self.port}{path}"
        for attempt in (1, 2):
            conn = self._conn
            if conn is None or conn.sock is None:  # first use, or closed after `will_close`
                self._drop_connection()
                conn = self._conn = self._new_connection()
                try:
                    conn.connect()
                except TimeoutError as exc:
                    self._drop_connection()
                    raise requests.ConnectTimeout(f"cannot connect to {url} in time") from exc
                except OSError as exc:
                    self._drop_connection()
                    if attempt == 2:
                        raise requests.ConnectionError(f"cannot connect to {url}: {exc}") from exc
                    continue
            try:
                conn.request("POST", path, body=body, headers=self._post_headers)
                response = conn.getresponse()
                data = response.read()
            except TimeoutError as exc:
                self._drop_connection()  # a late answer must not be read as the next one's
                raise requests.ReadTimeout(f"OPA did not answer {url} in time") from exc
            except (OSError, http.client.HTTPException) as exc:
                # Reset, closed by the server (a restarted sidecar, an idle timeout), broken
                # pipe: the query is read-only, so it is resent once on a new connection.
                self._drop_connection()
                if attempt == 2:
                    raise requests.ConnectionError(
                        f"POST {url}: {type(exc).__name__}: {exc}") from exc
                continue
            if response.will_close:
                self._drop_connection()
            return response.status, data
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
            kind = "Client" if status < 500 else "Server"
            raise requests.HTTPError(
                f"{status} {kind} Error for url {self.schema}{self.host}:{self.port}{path}: "
                f"{data[:500].decode('utf-8', 'replace')}")
        try:
            return json.loads(data)
        except ValueError as exc:  # json.JSONDecodeError, or bytes that are not UTF-8
            raise requests.JSONDecodeError(str(exc), data.decode("utf-8", "replace"), 0) from exc

