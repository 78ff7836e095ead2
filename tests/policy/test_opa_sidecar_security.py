"""The OPA sidecar as production runs it, with the real binary: the gateway and OPA authenticate
each other (a bearer token, or TLS with a client certificate), the policy arrives as a signed
bundle that OPA verifies, and OPA's decision logs never carry the input."""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import subprocess
import tarfile
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from pydantic import SecretStr

from gateway.app import create_app
from gateway.policy.contract import PolicyEngineUnavailable, PolicyRevisionMismatch
from gateway.policy.engines import OpaServerEngine, engine_from_settings, policy_revision
from gateway.policy.engines.bundle import build_bundle, bundle_manifest_revision
from gateway.settings import Settings, UnsafeSettings
from tests.policy.conftest import POLICY_DIR, ROOT
from tests.support.decision_table import TableCase
from tests.support.opa_process import OpaServerProcess, OpaTls
from tests.support.signing_keys import rsa_pem_pair
from tests.support.world import TenantWorld
from tests.test_settings import GOOD

pytestmark = pytest.mark.opa

TOKEN = "opa-sidecar-token-7f3e9a1c"


def engine(url: str, **kwargs: object) -> OpaServerEngine:
    return OpaServerEngine(url, POLICY_DIR, timeout=2.0, **kwargs)  # type: ignore[arg-type]


def decides_the_table(eng: OpaServerEngine, cases: list[TableCase]) -> None:
    for case in cases[:20]:
        assert case.mismatch(eng.decide(case.input)) is None, case.name


# --- a bearer token ------------------------------------------------------------------------------

def test_a_token_sidecar_answers_only_the_gateways_token(
        opa_binary: Path, table_cases: list[TableCase]) -> None:
    with OpaServerProcess(opa_binary, POLICY_DIR, token=TOKEN) as server:
        assert httpx.get(server.url + "/health").status_code == 200  # probes need no token
        for anonymous in (engine(server.url), engine(server.url, token="a-guessed-token")):
            with pytest.raises(PolicyEngineUnavailable, match="401"):
                anonymous.ping()
            with pytest.raises(PolicyEngineUnavailable):
                anonymous.decide(table_cases[0].input)
            anonymous.close()

        settings = Settings(policy_engine_url=server.url, policy_dir=POLICY_DIR,
                            policy_engine_token=SecretStr(TOKEN))
        gateway = engine_from_settings(settings)
        assert isinstance(gateway, OpaServerEngine)
        gateway.ping()
        decides_the_table(gateway, table_cases)
        gateway.close()

        auth = {"Authorization": f"Bearer {TOKEN}"}
        # The gateway's token asks decisions; it cannot replace policies or run ad-hoc queries.
        put = httpx.put(server.url + "/v1/policies/permit.rego", headers=auth,
                        content=b"package gateway.authz\n\ndecision := {\"allow\": true}\n")
        assert put.status_code == 401
        query = httpx.post(server.url + "/v1/query", headers=auth,
                           json={"query": "x := opa.runtime().env"})
        assert query.status_code == 401
        assert TOKEN not in query.text


def test_the_gateway_serves_through_a_token_sidecar_only_with_the_token(
        settings: Settings, opa_binary: Path, tenant_a: TenantWorld) -> None:
    with OpaServerProcess(opa_binary, POLICY_DIR, token=TOKEN) as server:
        with_token = settings.model_copy(update={"policy_engine_url": server.url,
                                                 "policy_engine_token": SecretStr(TOKEN)})
        with TestClient(create_app(with_token), raise_server_exceptions=False) as client:
            assert client.get("/v1/mailboxes", headers=tenant_a.crm.headers()).status_code == 200
            assert client.get("/readyz").status_code == 200
        without = settings.model_copy(update={"policy_engine_url": server.url})
        with TestClient(create_app(without), raise_server_exceptions=False) as client:
            refused = client.get("/v1/mailboxes", headers=tenant_a.crm.headers())
            assert refused.status_code == 503
            assert refused.json()["code"] == "policy_engine_unavailable"
            assert client.get("/readyz").status_code == 503


# --- TLS, both ways ------------------------------------------------------------------------------

def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(subject: str, key: rsa.RSAPrivateKey, issuer: tuple[str, rsa.RSAPrivateKey] | None,
          *, ca: bool = False, server: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: rsa.RSAPrivateKey | None = None) -> Path:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    return path.with_suffix(".crt")


def test_mutual_tls_the_gateway_checks_opa_and_opa_checks_the_gateway(
        opa_binary: Path, tmp_path: Path, table_cases: list[TableCase]) -> None:
    ca_key, other_ca_key, server_key, client_key, stranger_key = (_key() for _ in range(5))
    ca = _cert("policy-ca", ca_key, None, ca=True)
    other_ca = _cert("other-ca", other_ca_key, None, ca=True)
    ca_file = _write(tmp_path / "ca", ca)
    other_ca_file = _write(tmp_path / "other-ca", other_ca)
    server_cert = _write(tmp_path / "opa", _cert("opa", server_key, ("policy-ca", ca_key),
                                                 server=True), server_key)
    client_cert = _write(tmp_path / "gateway", _cert("gateway", client_key,
                                                     ("policy-ca", ca_key)), client_key)
    stranger_cert = _write(tmp_path / "stranger", _cert("stranger", stranger_key,
                                                        ("policy-ca", ca_key)), stranger_key)
    tls = OpaTls(cert=server_cert, key=server_cert.with_suffix(".key"), client_ca=ca_file,
                 client_subject="CN=gateway")
    with OpaServerProcess(opa_binary, POLICY_DIR, tls=tls) as server:
        assert server.url.startswith("https://")
        gateway = engine(server.url, ca_file=ca_file, client_cert=client_cert,
                         client_key=client_cert.with_suffix(".key"))
        gateway.ping()
        decides_the_table(gateway, table_cases)
        gateway.close()

        no_client_cert = engine(server.url, ca_file=ca_file)
        with pytest.raises(PolicyEngineUnavailable):
            no_client_cert.decide(table_cases[0].input)
        no_client_cert.close()

        another_subject = engine(server.url, ca_file=ca_file, client_cert=stranger_cert,
                                 client_key=stranger_cert.with_suffix(".key"))
        with pytest.raises(PolicyEngineUnavailable, match="401"):
            another_subject.ping()
        another_subject.close()

        # The gateway authenticates OPA: a server certificate from another CA is refused.
        wrong_ca = engine(server.url, ca_file=other_ca_file, client_cert=client_cert,
                          client_key=client_cert.with_suffix(".key"))
        with pytest.raises(PolicyEngineUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            wrong_ca.ping()
        with pytest.raises(PolicyEngineUnavailable):
            wrong_ca.decide(table_cases[0].input)
        wrong_ca.close()


def test_tls_settings_need_an_https_url() -> None:
    with pytest.raises(ValueError, match="https"):
        OpaServerEngine("http://127.0.0.1:8181", POLICY_DIR, ca_file=Path("ca.crt"))


# --- the signed bundle ---------------------------------------------------------------------------

def _rewrite(bundle: Path, out: Path, name: str, content: bytes) -> Path:
    """A copy of `bundle` with file `name` replaced (the signature left as it was)."""
    with tarfile.open(bundle, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member)
            body = data.read() if data is not None else b""
            if member.name.lstrip("/") == name:
                body = content
            member.size = len(body)
            dst.addfile(member, io.BytesIO(body))
    return out


@pytest.fixture
def signed_bundle(opa_binary: Path, tmp_path: Path) -> tuple[Path, Path]:
    private, public = rsa_pem_pair(tmp_path, "policy-signing")
    bundle = tmp_path / "bundle.tar.gz"
    revision = build_bundle(POLICY_DIR, bundle, signing_key=private, opa_binary=opa_binary)
    assert revision == policy_revision(POLICY_DIR) == bundle_manifest_revision(bundle)
    return bundle, public


def test_opa_loads_the_signed_bundle_and_the_gateway_accepts_its_decisions(
        opa_binary: Path, signed_bundle: tuple[Path, Path],
        table_cases: list[TableCase]) -> None:
    bundle, public = signed_bundle
    with tarfile.open(bundle, "r:gz") as archive:
        names = sorted(m.name.lstrip("/") for m in archive.getmembers())
    assert ".signatures.json" in names and "revision.rego" in names
    assert not any(n.endswith("_test.rego") or n.startswith("compiled") for n in names)
    with OpaServerProcess(opa_binary, None, bundle=bundle, verification_key=public) as server:
        bundles = httpx.get(server.url + "/v1/data/system/bundles").json()["result"]
        assert [b["manifest"]["revision"] for b in bundles.values()] == [
            policy_revision(POLICY_DIR)]
        gateway = engine(server.url, require_bundle=True)
        gateway.ping()
        decides_the_table(gateway, table_cases)
        gateway.close()


def test_production_requires_the_policy_as_a_bundle(opa_binary: Path) -> None:
    """A sidecar started on the policy files (not the bundle) runs our modules, but cannot show
    a bundle of our revision: with the bundle required (production's default) it is refused."""
    prod = Settings(**{**GOOD, "policy_engine_url": "http://127.0.0.1:8181"})
    assert prod.policy_engine_bundle_required is True
    assert Settings(policy_engine_url="http://127.0.0.1:8181").policy_engine_bundle_required \
        is False
    with OpaServerProcess(opa_binary, POLICY_DIR, token=TOKEN) as server:
        files_only = engine(server.url, token=TOKEN, require_bundle=True)
        with pytest.raises(PolicyRevisionMismatch, match="from a bundle"):
            files_only.ping()
        with pytest.raises(PolicyRevisionMismatch):
            files_only.decide({})
        files_only.close()


def test_opa_refuses_a_tampered_or_foreign_bundle(
        opa_binary: Path, tmp_path: Path, signed_bundle: tuple[Path, Path]) -> None:
    bundle, public = signed_bundle
    permit_all = (b'package gateway.authz\n\ndecision := {"allow": true, "reasons": ["x"], '
                  b'"revision": policy_revision}\n')
    tampered = _rewrite(bundle, tmp_path / "tampered.tar.gz", "authz.rego", permit_all)
    with pytest.raises(RuntimeError, match="digest mismatch"):
        OpaServerProcess(opa_binary, None, bundle=tampered, verification_key=public).start()

    _, other_public = rsa_pem_pair(tmp_path, "someone-else")
    with pytest.raises(RuntimeError, match="verif"):
        OpaServerProcess(opa_binary, None, bundle=bundle, verification_key=other_public).start()

    unsigned = tmp_path / "unsigned.tar.gz"
    subprocess.run([str(opa_binary), "build", "--bundle", str(POLICY_DIR), "--ignore",
                    "*_test.rego", "-o", str(unsigned)], check=True, capture_output=True)
    with pytest.raises(RuntimeError, match="signature"):
        OpaServerProcess(opa_binary, None, bundle=unsigned, verification_key=public).start()


def test_the_operator_script_builds_the_signed_bundle(opa_binary: Path, tmp_path: Path) -> None:
    private, public = rsa_pem_pair(tmp_path, "policy-signing")
    out = tmp_path / "from-script.tar.gz"
    result = subprocess.run(["bash", str(ROOT / "scripts" / "build_bundle.sh"),
                             "--signing-key", str(private), "--output", str(out)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert policy_revision(POLICY_DIR) in result.stdout
    assert bundle_manifest_revision(out) == policy_revision(POLICY_DIR)
    with OpaServerProcess(opa_binary, None, bundle=out, verification_key=public) as server:
        engine(server.url).ping()


# --- decision logs -------------------------------------------------------------------------------

def test_opa_decision_logs_never_carry_the_input(
        opa_binary: Path, tmp_path: Path, table_cases: list[TableCase]) -> None:
    canary = "msg-canary-4f1d2b"
    case = next(c for c in table_cases if c.allow and c.input["resource"].get("ids"))
    policy_input = {**case.input,
                    "resource": {**case.input["resource"], "ids": [canary], "thread_id": canary}}
    log_file = tmp_path / "opa.log"
    with OpaServerProcess(opa_binary, POLICY_DIR, decision_log=log_file) as server:
        gateway = engine(server.url)
        gateway.decide(policy_input)
        gateway.decide({**policy_input, "purpose": "advertising"})
        gateway.close()
    text = log_file.read_text()
    logged = [json.loads(line) for line in text.splitlines()
              if line.startswith("{") and '"Decision Log"' in line]
    assert logged and not any("input" in entry for entry in logged)
    decisions = [e for e in logged if e["path"] == "gateway/authz/decision"]
    assert len(decisions) == 2
    assert all(entry["erased"] == ["/input"] for entry in decisions)
    assert all(entry["result"]["revision"] == policy_revision(POLICY_DIR) for entry in decisions)
    assert canary not in text


# --- production settings -------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "extra", "complaints"), [
    ("http://10.2.0.7:8181", {}, ["plain http", "without authentication"]),
    ("https://opa.internal:8181", {}, ["without authentication"]),
    ("http://opa.internal:8181", {"policy_engine_token": SecretStr(TOKEN)}, ["plain http"]),
])
def test_production_refuses_an_unauthenticated_or_plain_remote_sidecar(
        url: str, extra: dict[str, object], complaints: list[str]) -> None:
    problems = Settings(**{**GOOD, "policy_engine_url": url, **extra}).problems_for_production()
    found = [p for p in problems if "GATEWAY_POLICY_ENGINE_URL" in p]
    assert len(found) == len(complaints)
    for problem, complaint in zip(found, complaints, strict=True):
        assert complaint in problem
    with pytest.raises(UnsafeSettings, match="GATEWAY_POLICY_ENGINE"):
        Settings(**{**GOOD, "policy_engine_url": url, **extra}).check_safe()


@pytest.mark.parametrize(("url", "extra"), [
    ("http://127.0.0.1:8181", {}),  # the sidecar in the pod, on loopback
    ("http://localhost:8181", {}),
    ("http://[::1]:8181", {}),
    ("https://opa.internal:8181", {"policy_engine_token": SecretStr(TOKEN)}),
    ("https://opa.internal:8181", {"policy_engine_client_cert_file": Path("/run/gw.crt"),
                                   "policy_engine_client_key_file": Path("/run/gw.key")}),
])
def test_production_accepts_a_loopback_or_authenticated_sidecar(
        url: str, extra: dict[str, object]) -> None:
    Settings(**{**GOOD, "policy_engine_url": url, **extra}).check_safe()


def test_a_placeholder_sidecar_token_is_refused_in_production() -> None:
    with pytest.raises(UnsafeSettings, match="GATEWAY_POLICY_ENGINE_TOKEN looks like"):
        Settings(**{**GOOD, "policy_engine_url": "https://opa.internal:8181",
                    "policy_engine_token": SecretStr("changeme")}).check_safe()
