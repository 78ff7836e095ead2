"""Fail closed, black-box: with the OPA server stopped mid-run, data requests get 503 and nothing
is served; when it comes back, they recover without restarting the gateway."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.policy.engines.opa_process import OpaServerProcess
from gateway.settings import Settings
from tests.conftest import ROOT, TenantWorld


def test_opa_outage_turns_requests_into_503_and_recovers(
        settings: Settings, opa_binary: Path, tenant_a: TenantWorld) -> None:
    server = OpaServerProcess(opa_binary, ROOT / "policies")
    url = server.start()
    try:
        app = create_app(settings.model_copy(update={"policy_engine_url": url}))
        with TestClient(app, raise_server_exceptions=False) as client:
            headers = tenant_a.crm.headers()
            assert client.get("/v1/mailboxes", headers=headers).status_code == 200

            server.stop()
            down = client.get("/v1/mailboxes", headers=headers)
            assert down.status_code == 503
            assert down.json()["code"] == "policy_engine_unavailable"
            assert "items" not in down.json()
            assert client.get("/readyz").status_code == 503

            server.start()
            assert client.get("/v1/mailboxes", headers=headers).status_code == 200
            assert client.get("/readyz").status_code == 200
    finally:
        server.stop()
