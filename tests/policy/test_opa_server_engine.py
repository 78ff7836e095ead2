"""The OPA-server engine: the decision asked through OPA's v0 Data API, and fail-closed behaviour.

A stub HTTP server plays OPA where we need misbehaviour (undefined, other 404s, 500, slow,
garbage); a real `opa run --server` is used for the exchange itself, outage/recovery and policy
mismatch.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from gateway.policy.contract import PolicyEngineUnavailable, PolicyRevisionMismatch
from gateway.policy.engines import OpaServerEngine, build_engine, policy_revision
from gateway.policy.engines.revision import (
    load_policy_files,
    merged_data,
    rego_modules,
    write_revision_module,
)
from tests.policy.conftest import POLICY_DIR
from tests.support.decision_table import TableCase
from tests.support.opa_process import OpaServerProcess, free_port, run_opa_server

FILES = load_policy_files(POLICY_DIR)
SERVER_MODULES = [{"id": f"/srv/policies/{m.path}", "raw": m.source} for m in rego_modules(FILES)]
TABLES = merged_data(FILES)["gateway"]["tables"]
REVISION = policy_revision(POLICY_DIR)


class StubOpa(BaseHTTPRequestHandler):
    """Answers like OPA for the policy listing; the decision endpoint does `mode`."""

    mode: ClassVar[str] = "allow"
    modules: ClassVar[list[dict[str, Any]]] = SERVER_MODULES
    posts: ClassVar[list[Any]] = []
    post_paths: ClassVar[list[str]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/v1/policies"):
            self._json(200, {"result": self.modules})
        elif self.path == "/v1/data/gateway/tables":
            self._json(200, {"result": TABLES})
        elif self.path == "/health":
            self._json(200, {})
        else:
            self._json(404, {"code": "resource_not_found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        StubOpa.post_paths.append(self.path)
        StubOpa.posts.append(json.loads(self.rfile.read(length)))
        mode = StubOpa.mode
        if mode == "allow":  # v0: the value itself, no {"result": ...}
            self._json(200, {"allow": True, "reasons": ["allow_owner"], "obligations": {},
                             "revision": REVISION})
        elif mode == "undefined":  # OPA v1.22's v0 answer for an undefined document
            self._json(404, {"code": "undefined_document",
                             "message": "document undefined: data.gateway.authz.decision"})
        elif mode == "not_found":  # a 404 that is not OPA's undefined document
            self._json(404, {"code": "resource_not_found", "message": "no such path"})
        elif mode == "router_404":  # Go's ServeMux: an unrouted path, plain text
            data = b"404 page not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif mode == "not_an_object":
            self._json(200, "yes")
        elif mode == "v1_envelope":  # a v1-shaped answer is not a decision: no allow at its top
            self._json(200, {"result": {"allow": True, "reasons": ["allow_owner"],
                                        "revision": REVISION}})
        elif mode == "error":
            self._json(500, {"code": "internal_error", "message": "eval_conflict_error"})
        elif mode == "bad_request":
            self._json(400, {"code": "invalid_parameter"})
        elif mode == "garbage":
            data = b"<html>proxy error</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif mode == "slow":
            time.sleep(2.0)
            self._json(200, {"allow": True, "revision": REVISION})


@pytest.fixture
def stub() -> Iterator[str]:
    StubOpa.mode = "allow"
    StubOpa.modules = SERVER_MODULES
    StubOpa.posts = []
    StubOpa.post_paths = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubOpa)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def engine_for(url: str, **kwargs: Any) -> OpaServerEngine:
    return OpaServerEngine(url, POLICY_DIR, timeout=kwargs.pop("timeout", 0.5), **kwargs)


# --- the library's behaviour, through the engine --------------------------------------------------

def test_posts_the_input_itself_to_v0_and_reads_the_value(stub: str) -> None:
    engine = engine_for(stub)
    decision = engine.decide({"action": "x", "purpose": None})
    assert decision.allow is True
    assert decision.reasons == ("allow_owner",)
    assert decision.engine == "opa"
    assert decision.revision == policy_revision(POLICY_DIR)
    assert StubOpa.post_paths == ["/v0/data/gateway/authz/decision"]
    assert StubOpa.posts == [{"action": "x"}]  # the input document, nulls pruned, no wrapper
    engine.close()


def test_undefined_document_is_none_and_refused(stub: str) -> None:
    """Our decision is always defined: an undefined one is not our policy's, so it is refused
    (503), and the server's modules are checked again before the next decision."""
    StubOpa.mode = "undefined"
    engine = engine_for(stub)
    assert engine.evaluate({}) is None
    with pytest.raises(PolicyRevisionMismatch):
        engine.decide({})
    assert engine._verified_at is None


@pytest.mark.parametrize("mode", ["not_an_object", "v1_envelope"])
def test_a_value_that_is_not_a_decision_is_refused(stub: str, mode: str) -> None:
    StubOpa.mode = mode
    with pytest.raises(PolicyRevisionMismatch):
        engine_for(stub).decide({})


@pytest.mark.parametrize("mode", ["not_found", "router_404", "error", "bad_request", "garbage"])
def test_errors_are_unavailable_and_reverified(stub: str, mode: str) -> None:
    StubOpa.mode = mode
    engine = engine_for(stub)
    assert engine._verified_at is not None
    with pytest.raises(PolicyEngineUnavailable, match="OPA query failed"):
        engine.decide({})
    assert engine._verified_at is None  # whatever answers next is verified before it decides
    assert len(StubOpa.posts) == 1  # none of them is retried


def test_a_slow_server_times_out(stub: str) -> None:
    StubOpa.mode = "slow"
    engine = engine_for(stub, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(PolicyEngineUnavailable):
        engine.decide({})
    assert time.monotonic() - started < 1.5


def test_nothing_listening_is_unavailable_quickly() -> None:
    engine = engine_for(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(PolicyEngineUnavailable):
        engine.decide({})
    with pytest.raises(PolicyEngineUnavailable):
        engine.ping()
    assert time.monotonic() - started < 3.0


def test_a_server_with_other_policies_is_unavailable(stub: str) -> None:
    StubOpa.modules = [*SERVER_MODULES, {"id": "/x/extra.rego", "raw": "package gateway.authz\n"}]
    with pytest.raises(PolicyEngineUnavailable, match="does not run policy revision"):
        engine_for(stub).decide({})
    StubOpa.modules = SERVER_MODULES[1:]
    with pytest.raises(PolicyEngineUnavailable):
        engine_for(stub).decide({})
    assert StubOpa.posts == []


def test_test_modules_on_the_server_are_ignored(stub: str) -> None:
    StubOpa.modules = [*SERVER_MODULES, {"id": "/srv/policies/tests/x_test.rego", "raw": "x"}]
    assert engine_for(stub).decide({}).allow is True


def test_bad_urls_are_refused() -> None:
    for url in ["ftp://x:1", "http://", "http://host:1/v1/data"]:
        with pytest.raises(ValueError):
            OpaServerEngine(url, POLICY_DIR)


def test_factory_with_url_is_the_opa_engine(stub: str) -> None:
    engine = build_engine(POLICY_DIR, stub, 0.5)
    assert isinstance(engine, OpaServerEngine)
    engine.close()
    with pytest.raises(PolicyEngineUnavailable):
        engine.decide({})


# --- a real OPA server ---------------------------------------------------------------------------

@pytest.mark.opa
def test_ping_and_revision_against_real_opa(opa_engine: OpaServerEngine) -> None:
    opa_engine.ping()
    assert opa_engine.revision == policy_revision(POLICY_DIR)


@pytest.mark.opa
def test_real_opa_undefined_decision_is_refused(opa_binary: Path, tmp_path: Path) -> None:
    """A real OPA on a one-rule policy whose decision is undefined unless input.ok is true (ours
    always decides: its `else` chain ends in default_deny): v0's undefined-document 404 carries
    no revision and is refused; a defined decision of the policy's revision comes back as is."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "authz.rego").write_text(
        "package gateway.authz\n\n"
        'decision := {"allow": true, "reasons": ["allow_owner"], "obligations": {},\n'
        '\t"revision": policy_revision} if {\n'
        "\tinput.ok == true\n}\n")
    write_revision_module(policies)
    with run_opa_server(opa_binary, policies) as url:
        engine = OpaServerEngine(url, policies, timeout=2.0)
        try:
            assert engine.evaluate({"ok": False}) is None
            with pytest.raises(PolicyRevisionMismatch):
                engine.decide({})
            assert engine.decide({"ok": True}).allow is True
        finally:
            engine.close()


@pytest.mark.opa
def test_stopping_opa_mid_run_fails_closed_and_recovers(opa_binary: Path,
                                                        table_cases: list[TableCase]) -> None:
    allowed = next(c for c in table_cases if c.allow)
    server = OpaServerProcess(opa_binary, POLICY_DIR)
    server.start()
    try:
        engine = engine_for(server.url, timeout=1.0)
        assert engine.decide(allowed.input).allow is True
        server.stop()
        with pytest.raises(PolicyEngineUnavailable):
            engine.decide(allowed.input)
        server.start()
        assert engine.decide(allowed.input).allow is True
        engine.close()
    finally:
        server.stop()


@pytest.mark.opa
def test_a_restarted_server_with_other_policies_is_caught(opa_binary: Path, tmp_path: Path,
                                                          table_cases: list[TableCase]) -> None:
    allowed = next(c for c in table_cases if c.allow)
    other = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, other)
    (other / "authz.rego").write_text((other / "authz.rego").read_text() + "\nextra := 1\n")
    server = OpaServerProcess(opa_binary, POLICY_DIR)
    server.start()
    try:
        engine = engine_for(server.url, timeout=1.0, verify_interval=0.0)
        assert engine.decide(allowed.input).allow is True
        server.stop()
        impostor = OpaServerProcess(opa_binary, other, port=server.port)
        impostor.start()
        try:
            with pytest.raises(PolicyEngineUnavailable, match="does not run policy revision"):
                engine.decide(allowed.input)
        finally:
            impostor.stop()
    finally:
        server.stop()


@pytest.mark.opa
def test_an_empty_server_is_unavailable(opa_binary: Path) -> None:
    with OpaServerProcess(opa_binary, None) as empty:
        engine = engine_for(empty.url)
        with pytest.raises(PolicyEngineUnavailable, match="does not run policy revision"):
            engine.decide({})
        with pytest.raises(PolicyEngineUnavailable):
            engine.ping()


@pytest.mark.opa
def test_run_opa_server_serves_only_policy_files(opa_binary: Path) -> None:
    with run_opa_server(opa_binary, POLICY_DIR) as url:
        import httpx

        ids = [m["id"] for m in httpx.get(url + "/v1/policies").json()["result"]]
        assert ids and not any(i.endswith("_test.rego") for i in ids)
        assert httpx.get(url + "/v1/data/decision_table").json() == {}
        assert httpx.get(url + "/v1/data/gateway/tables/actor_kinds").json()["result"]
    with pytest.raises(httpx.HTTPError):
        httpx.get(url + "/health", timeout=0.5)


@pytest.mark.opa
def test_threads_share_nothing_but_the_server(opa_engine: OpaServerEngine,
                                              table_cases: list[TableCase]) -> None:
    errors: list[str] = []

    def worker(offset: int) -> None:
        for i in range(60):
            case = table_cases[(offset * 31 + i) % len(table_cases)]
            problem = case.mismatch(opa_engine.decide(case.input))
            if problem:
                errors.append(f"{case.name}: {problem}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.opa
def test_a_server_back_after_an_outage_is_verified_before_it_decides(
        opa_binary: Path, tmp_path: Path, table_cases: list[TableCase]) -> None:
    allowed = next(c for c in table_cases if c.allow)
    other = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, other)
    (other / "authz.rego").write_text((other / "authz.rego").read_text() + "\nextra := 1\n")
    server = OpaServerProcess(opa_binary, POLICY_DIR)
    server.start()
    try:
        engine = engine_for(server.url, timeout=1.0)  # verify_interval: 30 s
        assert engine.decide(allowed.input).allow is True
        server.stop()
        with pytest.raises(PolicyEngineUnavailable):
            engine.decide(allowed.input)
        impostor = OpaServerProcess(opa_binary, other, port=server.port)
        impostor.start()
        try:
            with pytest.raises(PolicyEngineUnavailable, match="does not run policy revision"):
                engine.decide(allowed.input)
        finally:
            impostor.stop()
    finally:
        server.stop()
