"""The OPA-server engine: data.gateway.authz.decision asked over HTTP (opa-python-client 3.0).

The client is opa-python-client's `OpaClient`, as `KeepAliveOpaClient` (opa_transport.py): the
same class and interface, whose decision queries go over one persistent socket with a minimal
HTTP/1.1 reader instead of `requests` (~0.07 ms of client CPU per decision instead of
~0.7-1.0 ms; docs/policy.md section 6). What it does, checked against v3.0.0 and OPA v1.22
(tests/policy/test_opa_server_engine.py, test_opa_transport.py):
- `query_value(input, "gateway.authz", "decision")` POSTs the input document itself (no
  `{"input": ...}` wrapper) to OPA's v0 Data API, `/v0/data/gateway/authz/decision`, and returns
  the decision value itself. Why v0 and not opa-python-client's `query_rule` (v1, still there):
  OPA's v1 handler runs the `{"input": ...}` body through two JSON decoders, v0 through one;
  measured on this VM that saves ~45 us of OPA CPU per decision (~10 %). Both evaluate OPA's
  cached prepared query for the path.
- an undefined decision is v0's 404 with `"code": "undefined_document"` (`UndefinedDocument`):
  None here, a deny (`policy_undefined`), as `{}` was over v1. Any other 404 is an error.
- errors are the `requests` exception types opa-python-client raises (ConnectionError,
  ConnectTimeout/ReadTimeout, HTTPError on 4xx/5xx, JSONDecodeError); every one becomes
  PolicyEngineUnavailable (fail closed, 503 upstream).
- `timeout` bounds the connect and each read. A connection failure (refused, reset, closed by a
  restarted sidecar) is retried once on a new connection; a timeout or a 5xx is not retried.
- a client holds one connection (and a `requests.Session` for the other calls, which has no
  thread-safety contract), so each thread gets its own client; `close()` closes them all. The
  session ignores proxy and .netrc settings from the environment (`trust_env = False`); the
  decision connection never consults them.

Our policy, proven on every decision: the decision document carries the revision of the policy
that produced it (`policies/revision.rego`, compiled into the policy the server loaded; never
added here), and a decision naming any other revision, or none (a permit-all server put in the
sidecar's place, another policy version, an undefined decision), raises PolicyRevisionMismatch
(503 `policy_revision_mismatch`) from the first such answer, with no grace period.

Also, at first use, on `ping()`, after any failed or refused query, and every `verify_interval`
seconds, the engine reads `GET /v1/policies` and requires the server's non-test modules to be
exactly the local ones (same sources, as a multiset), and `GET /v1/data/gateway/tables` to equal
the local data.json; otherwise it is unavailable. Uploading the policies through the REST API
instead is not offered: OPA compiles each PUT module on its own, and these modules refer to each
other. Feed the sidecar with a signed bundle (bundle.py, docs/operations.md) or
`opa run --server <policy files>` (`policy_file_args` in opa_binary.py lists them).

Authentication, both ways where OPA offers it: `token` is sent as `Authorization: Bearer` on
every call (OPA `--authentication=token --authorization=basic`, policies/system/authz.rego);
with an https URL, `ca_file` is the CA the server's certificate must chain to (the gateway
authenticates OPA), and `client_cert`/`client_key` the certificate the gateway presents (OPA
`--authentication=tls`). A `unix:///path` URL reaches a sidecar listening on a Unix domain socket
(OPA `--addr unix:///path`, a volume shared within the pod): plain HTTP on a socket only processes
with file access to it can open; the token still applies. With `require_bundle` (production's
default), the server must also report a bundle whose manifest revision is ours
(`GET /v1/data/system/bundles`): the policy reached it as a bundle (scripts/build_bundle.sh signs
it; OPA's `--verification-key` checks it).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from gateway.policy.contract import (
    POLICY_PACKAGE,
    POLICY_RULE,
    Decision,
    PolicyEngineUnavailable,
    PolicyRevisionMismatch,
)
from gateway.policy.engines.opa_transport import KeepAliveOpaClient, UndefinedDocument
from gateway.policy.engines.rego_input import prune_nulls
from gateway.policy.engines.revision import (
    PolicyModule,
    checked_revision,
    declared_revision,
    is_test_module,
    load_policy_files,
    merged_data,
    rego_modules,
)

log = logging.getLogger(__name__)

def _package_paths(modules: tuple[PolicyModule, ...]) -> set[tuple[str, ...]]:
    paths = set()
    for module in modules:
        for line in module.source.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "package":
                paths.add(tuple(words[1].split(".")))
                break
    return paths


def _data_roots(document: dict[str, Any],
                modules: tuple[PolicyModule, ...]) -> dict[tuple[str, ...], Any]:
    """The data subtrees to compare with the server: as high as possible without reaching into
    a package (GET /v1/data/gateway would evaluate data.gateway.authz too)."""
    packages = _package_paths(modules)
    roots: dict[tuple[str, ...], Any] = {}

    def walk(path: tuple[str, ...], node: Any) -> None:
        is_prefix = any(pkg[:len(path)] == path for pkg in packages)
        if is_prefix and isinstance(node, dict):
            for key, child in node.items():
                walk((*path, key), child)
        else:
            roots[path] = node

    for key, child in document.items():
        walk((key,), child)
    return roots


def unix_socket_path(url: str) -> str | None:
    """The socket path of a `unix:///path` URL (OPA's own `--addr unix://<path>` syntax), else
    None."""
    if not url.startswith("unix://"):
        return None
    path = url[len("unix://"):]
    if not path.startswith("/"):
        raise ValueError(f"an OPA Unix socket URL must name an absolute path, got {url!r}")
    return path


def _split_url(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"OPA URL must be http(s)://host[:port] or unix:///path, got {url!r}")
    if parts.path not in {"", "/"}:
        raise ValueError(f"OPA URL must not carry a path, got {url!r}")
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    return parts.hostname, port, https


class OpaServerEngine:
    """Asks an OPA server. Thread-safe; every failure is PolicyEngineUnavailable."""

    name = "opa"

    def __init__(
        self,
        url: str,
        policy_dir: Path,
        *,
        timeout: float = 2.0,
        verify_interval: float = 30.0,
        token: str | None = None,
        ca_file: Path | None = None,
        client_cert: Path | None = None,
        client_key: Path | None = None,
        require_bundle: bool = False,
    ) -> None:
        self._unix_socket = unix_socket_path(url)
        self.url = url if self._unix_socket is not None else url.rstrip("/")
        if self._unix_socket is not None:
            self._host, self._port, self._https = "localhost", 80, False
        else:
            self._host, self._port, self._https = _split_url(self.url)
        if (ca_file or client_cert) and not self._https:
            raise ValueError(f"a CA file or client certificate needs an https OPA URL, "
                             f"got {url!r}")
        if client_key and not client_cert:
            raise ValueError("a client key needs its client certificate")
        self._timeout = float(timeout)
        self._verify_interval = float(verify_interval)
        self._token = token or None
        self._require_bundle = require_bundle
        self._ca_file = str(ca_file) if ca_file else None
        self._cert: tuple[str, str] | str | None = None
        if client_cert:
            self._cert = (str(client_cert), str(client_key)) if client_key else str(client_cert)
        files = load_policy_files(Path(policy_dir))
        self._revision = checked_revision(files, Path(policy_dir))
        self._modules = rego_modules(files)
        self._data_roots = _data_roots(merged_data(files), self._modules)
        self._local = threading.local()
        self._clients: list[Any] = []
        self._clients_lock = threading.Lock()
        self._verify_lock = threading.Lock()
        self._verified_at: float | None = None
        self._closed = False
        try:  # best effort: a sidecar that starts after us is verified on first use
            self._verify()
        except PolicyEngineUnavailable as exc:
            log.warning("OPA server not verified yet: %s", exc)

    @property
    def revision(self) -> str:
        return self._revision

    # --- HTTP ---------------------------------------------------------------------------------

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            if self._closed:
                raise PolicyEngineUnavailable("the OPA engine is closed")
            client = KeepAliveOpaClient(host=self._host, port=self._port,
                                        ssl=self._ca_file or self._https, cert=self._cert,
                                        token=self._token, timeout=self._timeout, retries=1,
                                        unix_socket=self._unix_socket)
            # No proxy or .netrc from the environment for the policy sidecar: the input
            # (principal, mailbox and message ids) goes to OPA and nowhere else; it also spares
            # requests a look at the environment and ~/.netrc on every call.
            client._session.trust_env = False
            with self._clients_lock:
                self._clients.append(client)
            self._local.client = client
        return client

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        """The raw value of data.gateway.authz.decision (None when undefined)."""
        if self._closed:
            raise PolicyEngineUnavailable("the OPA engine is closed")
        self._ensure_verified()
        try:
            return self._client().query_value(prune_nulls(dict(policy_input)),
                                              POLICY_PACKAGE, POLICY_RULE)
        except UndefinedDocument:
            return None  # not a decision of our revision: Decision.from_result refuses it
        except Exception as exc:
            self._verified_at = None  # whatever comes back next is verified before it decides
            raise PolicyEngineUnavailable(
                f"OPA query failed: {type(exc).__name__}: {exc}") from exc

    def decide(self, policy_input: Mapping[str, Any]) -> Decision:
        result = self.evaluate(policy_input)
        try:
            return Decision.from_result(result, revision=self._revision, engine=self.name)
        except PolicyRevisionMismatch:
            self._verified_at = None  # the next call checks the server's modules first
            log.error("refused a decision of another policy revision from %s", self.url)
            raise

    # --- the server runs our policies ---------------------------------------------------------

    def _ensure_verified(self) -> None:
        verified_at = self._verified_at
        if verified_at is not None and time.monotonic() - verified_at < self._verify_interval:
            return
        with self._verify_lock:
            verified_at = self._verified_at
            if verified_at is not None and time.monotonic() - verified_at < self._verify_interval:
                return
            self._verify()

    def _server_modules(self, http: httpx.Client) -> list[dict[str, Any]]:
        response = http.get("/v1/policies")
        response.raise_for_status()
        result = response.json().get("result", [])
        if not isinstance(result, list):
            raise ValueError("GET /v1/policies: result is not a list")
        return [m for m in result if isinstance(m, dict)]

    def _data_matches(self, http: httpx.Client) -> bool:
        for path, expected in self._data_roots.items():
            response = http.get("/v1/data/" + "/".join(path))
            response.raise_for_status()
            if response.json().get("result") != expected:
                return False
        return True

    def _matches(self, server: list[dict[str, Any]]) -> bool:
        theirs = Counter(
            PolicyModule(str(m.get("id", "")), str(m.get("raw", ""))).content_hash
            for m in server if not is_test_module(str(m.get("id", ""))))
        ours = Counter(m.content_hash for m in self._modules)
        return theirs == ours

    def _verify(self) -> None:
        scheme = "https" if self._https else "http"
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            transport = (httpx.HTTPTransport(uds=self._unix_socket)
                         if self._unix_socket is not None else None)
            with httpx.Client(base_url=f"{scheme}://{self._host}:{self._port}",
                              timeout=max(self._timeout, 1.0), trust_env=False,
                              headers=headers, verify=self._tls_context(),
                              transport=transport) as http:
                server = self._server_modules(http)
                same = self._matches(server) and self._data_matches(http)
                bundles = self._bundle_revisions(http) if self._require_bundle else {}
        except Exception as exc:  # any failure to read them: not verified, unavailable
            raise PolicyEngineUnavailable(
                f"cannot read the OPA server's policies: {type(exc).__name__}: {exc}") from exc
        if not same:
            self._verified_at = None
            theirs = declared_revision([PolicyModule(Path(str(m.get("id", ""))).name,
                                                     str(m.get("raw", ""))) for m in server])
            raise PolicyRevisionMismatch(
                self._revision, theirs, self.name,
                f"the OPA server at {self.url} does not run policy revision {self._revision} "
                f"(it declares {theirs or 'none'}; its modules: "
                f"{sorted(str(m.get('id')) for m in server)})")
        if self._require_bundle and self._revision not in bundles.values():
            raise PolicyRevisionMismatch(
                self._revision, None, self.name,
                f"the OPA server at {self.url} did not load policy revision {self._revision} "
                f"from a bundle (its bundles: {bundles or 'none'}); production sidecars load "
                "the signed bundle built by scripts/build_bundle.sh")
        self._verified_at = time.monotonic()

    def _bundle_revisions(self, http: httpx.Client) -> dict[str, str]:
        """The bundles the server activated: name -> manifest revision."""
        response = http.get("/v1/data/system/bundles")
        response.raise_for_status()
        result = response.json().get("result") or {}
        if not isinstance(result, dict):
            return {}
        return {str(name): str((info.get("manifest") or {}).get("revision", ""))
                for name, info in result.items() if isinstance(info, dict)}

    def _tls_context(self) -> ssl.SSLContext | bool:
        if not self._https:
            return True
        context = ssl.create_default_context(cafile=self._ca_file)
        if isinstance(self._cert, tuple):
            context.load_cert_chain(*self._cert)
        elif self._cert:
            context.load_cert_chain(self._cert)
        return context

    # --- lifecycle ----------------------------------------------------------------------------

    def ping(self) -> None:
        """The server answers /health, runs exactly our policies, and denies an empty input."""
        self._verify()
        decision = self.decide({})
        if decision.allow:
            raise PolicyEngineUnavailable("the OPA server allowed an empty input")

    def close(self) -> None:
        self._closed = True
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            try:
                client.close_connection()
            except Exception as exc:  # noqa: BLE001 - closing is best effort
                log.debug("closing an OPA client failed: %s", exc)
