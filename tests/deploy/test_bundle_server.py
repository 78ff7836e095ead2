"""The deployment's policy path with the real OPA binary: a bundle server serves the signed bundle,
the sidecar runs with the deployment's own configuration (deploy/compose/opa.yaml), downloads and
verifies it, and answers the gateway's token; a bundle that does not verify is never activated, so
the gateway refuses rather than deciding without its policy."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.policy.contract import PolicyEngineUnavailable
from gateway.policy.engines import OpaServerEngine, policy_revision
from gateway.policy.engines.bundle import build_bundle
from gateway.policy.engines.opa_binary import find_opa_binary
from tests.support.opa_process import free_port
from tests.support.signing_keys import rsa_pem_pair

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = ROOT / "policies"
TOKEN = "deploy-test-token-5b1d"
KEY_ID = "gateway"  # the key id deploy/compose/opa.yaml and the manifests name

pytestmark = pytest.mark.opa


@contextmanager
def bundle_server(root: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def sidecar(opa: Path, tmp_path: Path, bundles_url: str, public: Path) -> Iterator[str]:
    """OPA as the deployment runs it: the deployment's config with the bundle server's URL."""
    config = yaml.safe_load((ROOT / "deploy" / "compose" / "opa.yaml").read_text())
    config["services"]["bundles"]["url"] = bundles_url + "/bundles"
    config["bundles"]["gateway"]["polling"] = {"min_delay_seconds": 1, "max_delay_seconds": 2}
    (tmp_path / "opa.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    env = {**os.environ, "GATEWAY_POLICY_ENGINE_TOKEN": TOKEN, "GOMAXPROCS": "1"}
    proc = subprocess.Popen(
        [str(opa), "run", "--server", f"--addr=127.0.0.1:{port}", "--authentication=token",
         "--authorization=basic", f"--config-file={tmp_path / 'opa.yaml'}",
         f"--set-file=keys.{KEY_ID}.key={public}", f"--set=keys.{KEY_ID}.algorithm=RS256",
         "--skip-version-check", "--log-level=error"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(10)


def bundle_activated(url: str, seconds: float) -> bool:
    """OPA's own health check with `?bundles`: 200 once every configured bundle is active."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health?bundles").status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def opa() -> Path:
    binary = find_opa_binary()
    if binary is None:
        pytest.fail("no OPA binary: scripts/test.sh builds it into .tools/bin")
    return binary


def test_the_sidecar_loads_the_served_bundle_and_the_gateway_accepts_it(
        opa: Path, tmp_path: Path) -> None:
    private, public = rsa_pem_pair(tmp_path, "release")
    served = tmp_path / "www" / "bundles"
    served.mkdir(parents=True)
    revision = build_bundle(POLICY_DIR, served / "gateway.tar.gz", signing_key=private,
                            opa_binary=opa, key_id=KEY_ID)
    with bundle_server(tmp_path / "www") as bundles, sidecar(opa, tmp_path, bundles,
                                                            public) as url:
        assert bundle_activated(url, 30), "OPA never activated the signed bundle"
        engine = OpaServerEngine(url, POLICY_DIR, timeout=2.0, token=TOKEN)
        engine.ping()
        decision = engine.decide({"action": "mail.message.read"})
        assert decision.allow is False and decision.revision == revision
        assert revision == policy_revision(POLICY_DIR)
        engine.close()
        anonymous = httpx.post(url + "/v0/data/gateway/authz/decision", json={})
        assert anonymous.status_code == 401


def test_a_bundle_signed_by_another_key_is_never_activated(opa: Path, tmp_path: Path) -> None:
    _, public = rsa_pem_pair(tmp_path, "release")
    impostor, _ = rsa_pem_pair(tmp_path, "impostor")
    served = tmp_path / "www" / "bundles"
    served.mkdir(parents=True)
    build_bundle(POLICY_DIR, served / "gateway.tar.gz", signing_key=impostor, opa_binary=opa,
                 key_id=KEY_ID)
    with bundle_server(tmp_path / "www") as bundles, sidecar(opa, tmp_path, bundles,
                                                            public) as url:
        assert not bundle_activated(url, 6)
        engine = OpaServerEngine(url, POLICY_DIR, timeout=2.0, token=TOKEN)
        with pytest.raises(PolicyEngineUnavailable):
            engine.decide({"action": "mail.message.read"})
        engine.close()
