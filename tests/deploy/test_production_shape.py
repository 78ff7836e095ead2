"""The production topology as processes, with GATEWAY_ENVIRONMENT=prod (tests/deploy/topology.py):

  PostgreSQL: a fresh database with deploy/compose/roles.sql's three roles: the owner migrates,
    the app role serves and syncs, the purge role runs the retention job;
  a static file server with the policy bundle signed by scripts/build_bundle.sh;
  OPA with deploy/compose/opa.yaml: downloads the bundle, verifies its signature, answers only
    the gateway's token, on a Unix socket;
  the Google emulator (allowed in prod only by GATEWAY_TEST_ONLY_ALLOW_EMULATOR_IN_PROD);
  two `gmail-gateway serve` replicas behind a TLS-terminating proxy (tests/support/tls_proxy.py)
    whose certificate the client checks against the test's own CA;
  two `gmail-gateway worker` processes and two `gmail-gateway scheduler` processes (every
    periodic job; the log's purge as the purge role, its partitions as the owner).

Through HTTPS only, a CRM connects a mailbox (the OAuth flow against the emulator), waits for
the sync, reads, and sends; then `gmail-gateway audit verify` checks the operation log those
requests wrote, and the schedulers' status shows every job run once per period, without error.
Without the test-only switch, the same settings are refused."""

from __future__ import annotations

import secrets
import ssl
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import psycopg
import pytest
from sqlalchemy import make_url

from emulator.control import EmulatorControl
from gateway.policy.engines.revision import policy_revision
from gateway.settings.google import EMULATOR_PUSH_SERVICE_ACCOUNT
from tests.demo_world import parse
from tests.deploy.topology import (
    ROOT,
    Topology,
    answers,
    free_port,
    fresh_secret,
    opa_command,
    psycopg_url,
    python_env,
    role_sql,
    run_sql,
    wait_for,
)
from tests.support.database import create_database, drop_database
from tests.support.signing_keys import rsa_pem_pair
from tests.support.tls_certs import server_tls

pytestmark = [pytest.mark.opa, pytest.mark.postgres_only]

ALICE, BOB = "alice@example.com", "bob@example.com"
RETURN_URL = "https://crm.example.test/settings/gmail"
SEEDED = 25  # messages in Alice's mailbox


@dataclass
class Running:
    topology: Topology
    public: str  # https://localhost:<proxy port>
    ca: Path
    emulator: str
    roles: dict[str, str]  # owner / app / purge -> database URL
    crm_key: str
    end_user_id: str
    opa_socket: Path
    opa_token: str
    schedulers: list[int]  # their operations ports


def trusting(ca: Path) -> ssl.SSLContext:
    """A client's TLS context that trusts the test's CA and nothing else."""
    return ssl.create_default_context(cafile=str(ca))


def prod_env(db_url: str, work: Path, public: str, emulator: str, socket: Path,
             token: str) -> dict[str, str]:
    client_id = "topology.apps.googleusercontent.com"
    return {
        **python_env(),
        "GATEWAY_ENVIRONMENT": "prod",
        "GATEWAY_DATABASE_URL": db_url,
        "GATEWAY_DATA_DIR": str(work / "data"),
        "GATEWAY_POLICY_DIR": str(ROOT / "policies"),
        "GATEWAY_POLICY_ENGINE_URL": f"unix://{socket}",
        "GATEWAY_POLICY_ENGINE_TOKEN": token,
        "GATEWAY_KEY_PROVIDER": "local",
        "GATEWAY_KEY_FILE": str(work / "keys" / "kek.json"),
        "GATEWAY_API_KEY_PEPPER": fresh_secret("pepper"),
        "GATEWAY_AUDIT_SIGNING_KEY_FILE": str(work / "keys" / "audit-signing-key.json"),
        "GATEWAY_EMULATOR_URL": emulator,
        "GATEWAY_TEST_ONLY_ALLOW_EMULATOR_IN_PROD": "true",
        "GATEWAY_GOOGLE_CLIENT_ID": client_id,
        "GATEWAY_GOOGLE_CLIENT_SECRET": fresh_secret("client"),
        "GATEWAY_PUBLIC_BASE_URL": public,
        "GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
        "GATEWAY_PRIVACY_POLICY_URL": "https://crm.example.test/privacy",
        "GATEWAY_CRM_REDIRECT_ALLOWLIST": '["https://crm.example.test/"]',
        "GATEWAY_PUSH_AUDIENCE": public + "/v1/push/gmail",
        "GATEWAY_PUSH_SERVICE_ACCOUNT": EMULATOR_PUSH_SERVICE_ACCOUNT,
        "GATEWAY_SYNC_IDLE_SLEEP_SECONDS": "0.2",
        "GATEWAY_AUDIT_CHECKPOINT_SECONDS": "1",
        "GATEWAY_LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def running(pg_admin_url: str, opa_binary: Path) -> Iterator[Running]:
    # A short directory: OPA's Unix socket path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="topo-", dir="/tmp") as tmp:
        work = Path(tmp)
        (work / "keys").mkdir()
        suffix = uuid.uuid4().hex[:8]
        db_url = create_database(pg_admin_url, "topology")
        roles = {kind: make_url(db_url).set(username=f"gateway_{kind}_{suffix}")
                 .render_as_string(hide_password=False) for kind in ("owner", "app", "purge")}
        topology = Topology(work)
        try:
            yield start(topology, work, db_url, roles, opa_binary, suffix)
        finally:
            topology.stop()
            drop_database(pg_admin_url, db_url)
            with psycopg.connect(psycopg_url(pg_admin_url), autocommit=True) as conn:
                for kind in ("purge", "app", "owner"):
                    conn.execute(f'DROP ROLE IF EXISTS "gateway_{kind}_{suffix}"'.encode())


def start(topology: Topology, work: Path, db_url: str, roles: dict[str, str], opa: Path,
          suffix: str) -> Running:
    # The database: roles (as the superuser), migrations as the owner, grants again.
    run_sql(db_url, role_sql(suffix))
    # The signed bundle, with the release's key, on a static file server.
    private, public_key = rsa_pem_pair(work / "keys", "policy-signing")
    (work / "www" / "bundles").mkdir(parents=True)
    built = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_bundle.sh"), "--signing-key", str(private),
         "--key-id", "gateway", "--output", str(work / "www" / "bundles" / "gateway.tar.gz")],
        cwd=ROOT, env={**python_env(), "GATEWAY_SKIP_INSTALL": "1"}, capture_output=True,
        text=True, timeout=180, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    bundles_port = free_port()
    topology.start("bundle-server", [sys.executable, "-m", "http.server", str(bundles_port),
                                     "--bind", "127.0.0.1", "--directory", str(work / "www")],
                   env=python_env())
    # OPA, as deploy/compose.yaml runs it, on a Unix socket.
    token = fresh_secret("opa-token")
    socket = work / "opa" / "opa.sock"
    socket.parent.mkdir(mode=0o700)
    topology.start("opa", opa_command(opa, socket, f"http://127.0.0.1:{bundles_port}",
                                      public_key),
                   env={**python_env(), "GATEWAY_POLICY_ENGINE_TOKEN": token,
                        "GOMAXPROCS": "1", "GOGC": "400"})
    # The Google emulator, with the gateway's OAuth client registered.
    proxy_port, emulator_port = free_port(), free_port()
    public = f"https://localhost:{proxy_port}"
    emulator = f"http://127.0.0.1:{emulator_port}"
    env = prod_env(roles["app"], work, public, emulator, socket, token)
    client = (f"{env['GATEWAY_GOOGLE_CLIENT_ID']}:{env['GATEWAY_GOOGLE_CLIENT_SECRET']}:"
              f"{public}/oauth/callback")
    topology.start("emulator", [sys.executable, "-m", "emulator", "serve", "--port",
                                str(emulator_port), "--user", ALICE, "--user", BOB,
                                "--seed-generate", str(SEEDED), "--client", client,
                                "--log-level", "warning"], env=python_env())
    topology.env = env
    # Keys provisioned as an operator does, then the schema.
    topology.cli("kek", "init-key-file")
    topology.cli("audit", "init-signing-key")
    topology.cli("migrate", env={**env, "GATEWAY_DATABASE_URL": roles["owner"]})
    run_sql(db_url, role_sql(suffix))
    # Two replicas behind the TLS proxy, two workers, the checkpoint signer.
    tls = server_tls(work / "keys")
    replicas = [free_port(), free_port()]
    for n, port in enumerate(replicas):
        topology.start(f"gateway-{n}", [sys.executable, "-m", "gateway.cli", "serve", "--host",
                                        "127.0.0.1", "--port", str(port), "--workers", "1"])
    topology.start("proxy", [sys.executable, "-m", "tests.support.tls_proxy", "--port",
                             str(proxy_port), "--cert", str(tls.cert), "--key", str(tls.key),
                             *[a for p in replicas for a in ("--upstream",
                                                              f"http://127.0.0.1:{p}")]],
                   env=python_env())
    for n in range(2):
        topology.start(f"worker-{n}", [sys.executable, "-m", "gateway.cli", "worker"])
    schedulers = [free_port(), free_port()]  # each one's /status, /metrics, /healthz
    for n, port in enumerate(schedulers):
        topology.start(f"scheduler-{n}", [sys.executable, "-m", "gateway.cli", "scheduler"],
                       env={**env, "GATEWAY_SCHEDULER_PURGE_DATABASE_URL": roles["purge"],
                            "GATEWAY_SCHEDULER_OWNER_DATABASE_URL": roles["owner"],
                            "GATEWAY_SCHEDULER_METRICS_PORT": str(port)})
    wait_for("OPA activates the signed bundle",
             lambda: answers("http://localhost", uds=str(socket), path="/health?bundles"),
             topology)
    for port in replicas:  # what the compose health check asks of each replica
        wait_for(f"replica :{port} is ready",
                 lambda p=port: answers(f"http://127.0.0.1:{p}", path="/readyz"), topology)
    wait_for("the proxy serves HTTPS", lambda: answers(public, path="/healthz",
                                                        verify=trusting(tls.ca)), topology)
    # The operator's set-up, with the CLI as the app role.
    tenant = topology.cli_json("tenants", "create", "acme")
    end_user = topology.cli_json("principals", "create", "--tenant", tenant["id"], "--kind",
                                 "end_user", "--subject", "u-1001")
    crm = topology.cli_json("principals", "create", "--tenant", tenant["id"], "--kind",
                            "crm_service", "--subject", "crm-backend")
    key = topology.cli_json("api-keys", "create", "--tenant", tenant["id"], "--principal",
                            crm["id"])
    return Running(topology, public, tls.ca, emulator, roles, key["api_key"], end_user["id"],
                   socket, token, schedulers)


def consent(http: httpx.Client, consent_url: str) -> str:
    """The person reads the gateway's page, presses Continue, approves on Google's (the
    emulator's) page; the URL Google sends the browser back to."""
    page = http.get(consent_url, headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text
    google_url = parse(page.text).links["continue"]
    google = http.get(google_url)
    assert google.status_code == 200, google.text
    form = parse(google.text)
    fields = [(i.get("name", ""), i.get("value", "")) for i in form.inputs
              if i.get("name") and (i.get("type") != "checkbox" or "checked" in i)]
    fields = [(n, ALICE if n == "email" else v) for n, v in fields]
    fields.append(("action", "approve"))
    answer = http.post(urljoin(google_url, form.form_action), content=urlencode(fields),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def test_a_mailbox_is_connected_synced_read_and_sent_from_through_tls_in_prod(
        running: Running) -> None:
    topology = running.topology
    upstreams: set[str] = set()
    crm = {"Authorization": f"Bearer {running.crm_key}", "Gateway-Purpose": "user_facing"}
    with httpx.Client(base_url=running.public, verify=trusting(running.ca), timeout=30,
                      follow_redirects=False, trust_env=False) as http:
        http.event_hooks["response"] = [
            lambda r: upstreams.add(r.headers.get("x-test-proxy-upstream", "?"))
            if str(r.url).startswith(running.public) else None]
        started = http.post("/v1/connect", headers=crm, json={
            "features": ["read", "send"], "return_url": RETURN_URL,
            "end_user_id": running.end_user_id})
        assert started.status_code == 201, started.text
        consent_url = started.json()["consent_url"]
        assert consent_url.startswith(running.public + "/")  # the public https URL
        callback = consent(http, consent_url)
        assert callback.startswith(running.public + "/oauth/callback?"), callback
        landed = http.get(callback)
        assert landed.status_code == 302, landed.text
        location = landed.headers["location"]
        assert location.startswith(RETURN_URL), location
        outcome = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        mailbox = outcome["mailbox_id"]

        wait_for("the workers sync the mailbox", lambda: http.get(
            f"/v1/mailboxes/{mailbox}/sync", headers=crm).json().get("phase") == "incremental",
            topology, seconds=90, every=0.5)
        listed = http.get(f"/v1/mailboxes/{mailbox}/messages?limit=50", headers=crm)
        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        assert len(items) >= min(SEEDED, 50) // 2, items
        content = http.get(f"/v1/mailboxes/{mailbox}/messages/{items[0]['id']}/content",
                           headers=crm)
        assert content.status_code == 200, content.text

        subject = f"topology {secrets.token_hex(4)}"
        sent = http.post(f"/v1/mailboxes/{mailbox}/messages/send",
                         headers={**crm, "Idempotency-Key": f"topology-{subject}"},
                         json={"to": [BOB], "subject": subject, "text": "Through TLS."})
        assert sent.status_code == 200, sent.text
        assert "SENT" in sent.json()["label_ids"]
    with EmulatorControl(running.emulator) as google:
        assert len(google.messages(BOB)) == 1  # Bob received it, once
    assert upstreams == {"0", "1"}, upstreams  # both replicas served the client
    assert not topology.exited(), topology.logs()

    # The operation log those requests wrote verifies, signed checkpoints included.
    wait_for("a signed checkpoint", lambda: topology.cli_json(
        "audit", "verify", "--json")["checkpoints"] > 0, topology, seconds=30, every=1)
    report = topology.cli_json("audit", "verify", "--json")
    assert report["ok"] is True and report["entries"] > 0, report
    assert report["problems"] == []


def scheduler_status(port: int) -> dict[str, Any]:
    with httpx.Client(timeout=5, trust_env=False) as http:
        status: dict[str, Any] = http.get(f"http://127.0.0.1:{port}/status").raise_for_status(
        ).json()
        return status


def test_the_schedulers_run_every_job_without_error(running: Running) -> None:
    """Two schedulers share the jobs: each job has run (the first period of each is due at
    start), once per period whichever scheduler took it, and none failed: the purge as the
    purge role, the partitions' upkeep as the owner, the rest as the app role."""
    def every_job_ran() -> bool:
        return all(job["runs"] >= 1 for job in scheduler_status(running.schedulers[0])["jobs"])
    wait_for("every scheduled job ran", every_job_ran, running.topology, seconds=60, every=1)
    views = [scheduler_status(port) for port in running.schedulers]
    assert views[0]["scheduler"] != views[1]["scheduler"]  # two schedulers
    jobs = {job["name"]: job for job in views[1]["jobs"]}  # one table, seen from either
    assert {"audit-checkpoint", "audit-purge", "audit-maintain", "webhooks-deliver",
            "oauth-keep-alive", "push-renew-watches"} <= set(jobs)
    failed = {name: job["last_error"] for name, job in jobs.items() if job["failures"]}
    assert not failed, f"{failed}\n{running.topology.logs()}"
    for name in ("audit-purge", "audit-maintain", "oauth-keep-alive"):  # a day or longer
        assert jobs[name]["runs"] == 1, jobs[name]


def test_the_app_role_cannot_rewrite_the_log_and_the_purge_role_runs_retention(
        running: Running) -> None:
    with psycopg.connect(psycopg_url(running.roles["app"]), autocommit=True) as conn:
        for statement in ("DELETE FROM audit_entries", "UPDATE audit_entries SET action = 'x'",
                          "TRUNCATE audit_entries"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement.encode())
    purged = running.topology.cli_json(
        "audit", "purge", env={**running.topology.env,
                                         "GATEWAY_DATABASE_URL": running.roles["purge"]})
    assert purged["removed"] == 0  # nothing is a year old; the role may run it
    report = running.topology.cli_json("audit", "verify", "--json")
    assert report["ok"] is True, report


def test_the_sidecar_runs_the_releases_signed_bundle_and_only_for_the_token(
        running: Running) -> None:
    """Prod's replicas are ready only with OPA reporting the bundle of their own revision;
    OPA, on its socket, reports that bundle to the gateway's token and nothing to anyone else."""
    with httpx.Client(verify=trusting(running.ca), trust_env=False, timeout=10) as http:
        ready = http.get(running.public + "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["policy_engine"] == "ok"
    transport = httpx.HTTPTransport(uds=str(running.opa_socket))
    with httpx.Client(transport=transport, base_url="http://localhost", timeout=10) as opa:
        bundles = opa.get("/v1/data/system/bundles",
                          headers={"Authorization": f"Bearer {running.opa_token}"})
        anonymous = opa.get("/v1/data/system/bundles")
    assert bundles.status_code == 200, bundles.text
    manifest = bundles.json()["result"]["gateway"]["manifest"]
    assert manifest["revision"] == policy_revision(ROOT / "policies")
    assert anonymous.status_code == 401


def test_prod_refuses_the_emulator_without_the_test_only_switch(running: Running) -> None:
    env = {k: v for k, v in running.topology.env.items()
           if k != "GATEWAY_TEST_ONLY_ALLOW_EMULATOR_IN_PROD"}
    with pytest.raises(AssertionError, match="GATEWAY_EMULATOR_URL is set"):
        running.topology.cli("serve", "--port", str(free_port()), env=env)
