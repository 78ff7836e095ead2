"""The OPA sidecar on a Unix domain socket (`opa run --server --addr unix:///path`), with the real
binary: the gateway's engine reaches it through `GATEWAY_POLICY_ENGINE_URL=unix:///path`, decides
the table exactly as over TCP, still sends its token, checks the server's policy (and bundle)
the same way, fails closed when the socket is gone and recovers when OPA is back."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from gateway.policy.contract import PolicyEngineUnavailable, PolicyRevisionMismatch
from gateway.policy.engines import OpaServerEngine, engine_from_settings
from gateway.policy.engines.bundle import build_bundle
from gateway.settings import Settings
from tests.policy.conftest import POLICY_DIR
from tests.support.decision_table import TableCase
from tests.support.opa_process import OpaServerProcess
from tests.support.signing_keys import rsa_pem_pair
from tests.test_settings import GOOD

pytestmark = pytest.mark.opa

TOKEN = "opa-socket-token-41c9d2e7"


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    # A short path: a Unix socket's must fit in 108 bytes, and pytest's tmp_path may not.
    with tempfile.TemporaryDirectory(prefix="opa-", dir="/tmp") as tmp:
        yield Path(tmp)


def test_the_engine_decides_the_table_over_the_socket_as_over_tcp(
        opa_binary: Path, socket_dir: Path, table_cases: list[TableCase]) -> None:
    with OpaServerProcess(opa_binary, POLICY_DIR, token=TOKEN, unix_socket=socket_dir / "s",
                          also_tcp=True) as server:
        assert server.url == f"unix://{socket_dir / 's'}"
        unix = OpaServerEngine(server.url, POLICY_DIR, token=TOKEN)
        tcp = OpaServerEngine(server.tcp_url, POLICY_DIR, token=TOKEN)
        try:
            unix.ping()
            for case in table_cases:
                decided = unix.decide(case.input)
                assert case.mismatch(decided) is None, case.name
                assert decided == tcp.decide(case.input), case.name
        finally:
            unix.close()
            tcp.close()


def test_the_socket_still_wants_the_token(opa_binary: Path, socket_dir: Path) -> None:
    with OpaServerProcess(opa_binary, POLICY_DIR, token=TOKEN,
                          unix_socket=socket_dir / "s") as server:
        for caller in (OpaServerEngine(server.url, POLICY_DIR),
                       OpaServerEngine(server.url, POLICY_DIR, token="a-guessed-token")):
            with pytest.raises(PolicyEngineUnavailable, match="401"):
                caller.ping()
            with pytest.raises(PolicyEngineUnavailable):
                caller.decide({"action": "mail.message.read"})
            caller.close()


def test_no_socket_fails_closed_and_a_restarted_sidecar_is_used_again(
        opa_binary: Path, socket_dir: Path) -> None:
    server = OpaServerProcess(opa_binary, POLICY_DIR, token=TOKEN, unix_socket=socket_dir / "s")
    engine = OpaServerEngine(server.url, POLICY_DIR, token=TOKEN, verify_interval=0.0)
    try:
        with pytest.raises(PolicyEngineUnavailable):  # nothing listens yet
            engine.decide({"action": "mail.message.read"})
        server.start()
        assert engine.decide({"action": "mail.message.read"}).allow is False
        server.stop()
        assert not (socket_dir / "s").exists()  # OPA removes its socket on the way out
        with pytest.raises(PolicyEngineUnavailable):
            engine.decide({"action": "mail.message.read"})
        server.start()
        assert engine.decide({"action": "mail.message.read"}).allow is False
    finally:
        engine.close()
        server.stop()


def test_another_policy_on_the_socket_is_refused(opa_binary: Path, socket_dir: Path,
                                                 tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "authz.rego").write_text(
        'package gateway.authz\n\ndecision := {"allow": true, "revision": "r-permit-all"}\n')
    with OpaServerProcess(opa_binary, other, unix_socket=socket_dir / "s") as server:
        engine = OpaServerEngine(server.url, POLICY_DIR)
        with pytest.raises(PolicyRevisionMismatch):
            engine.decide({"action": "mail.message.read"})
        engine.close()


def test_production_settings_take_a_socket_with_the_signed_bundle(
        opa_binary: Path, socket_dir: Path, tmp_path: Path) -> None:
    """A socket is on this host: prod asks no TLS for it, and still requires the bundle."""
    private, public = rsa_pem_pair(tmp_path, "release")
    bundle = tmp_path / "bundle.tar.gz"
    build_bundle(POLICY_DIR, bundle, signing_key=private, opa_binary=opa_binary)
    with OpaServerProcess(opa_binary, None, token=TOKEN, unix_socket=socket_dir / "s",
                          bundle=bundle, verification_key=public) as server:
        settings = Settings(**{**GOOD, "policy_engine_url": server.url,
                               "policy_engine_token": SecretStr(TOKEN),
                               "policy_dir": POLICY_DIR})
        settings.check_safe()
        engine = engine_from_settings(settings)
        assert isinstance(engine, OpaServerEngine)
        engine.ping()
        engine.close()
    with OpaServerProcess(opa_binary, POLICY_DIR, token=TOKEN,
                          unix_socket=socket_dir / "s") as loose:  # files, not the bundle
        settings = Settings(**{**GOOD, "policy_engine_url": loose.url,
                               "policy_engine_token": SecretStr(TOKEN),
                               "policy_dir": POLICY_DIR})
        engine = engine_from_settings(settings)
        with pytest.raises(PolicyRevisionMismatch, match="bundle"):
            engine.ping()
        engine.close()


@pytest.mark.parametrize("url", ["unix://relative/opa.sock", "unix://"])
def test_a_socket_url_names_an_absolute_path(url: str) -> None:
    with pytest.raises(ValueError, match="absolute path"):
        OpaServerEngine(url, POLICY_DIR)


def test_tls_files_make_no_sense_on_a_socket(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="https"):
        OpaServerEngine("unix:///tmp/opa.sock", POLICY_DIR, ca_file=tmp_path / "ca.pem")
