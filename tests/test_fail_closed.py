"""Fail closed, black-box: with the OPA server stopped mid-run, or the key provider gone, data
requests get 503 and nothing is served; when it comes back, they recover without restarting the
gateway."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.kit.db import Database
from gateway.runtime import runtime_of
from gateway.settings import Settings
from tests.mail.factories import make_raw, store_message
from tests.support.opa_process import OpaServerProcess
from tests.support.world import ROOT, TenantWorld


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


def test_key_provider_outage_turns_reads_into_503_and_recovers(
        settings: Settings, db: Database, tenant_a: TenantWorld, tmp_path: Path) -> None:
    """The local key provider's directory disappears (a volume unmounted) while the gateway
    runs: reads that must decrypt are refused with 503 `key_unavailable` and serve nothing, and
    /readyz says so; when the keys are back, the same reads succeed. Its own key directory, so
    the rest of the suite's keys are never touched."""
    keys = tmp_path / "keys"
    app = create_app(settings.model_copy(update={"key_file": keys / "kek.json",
                                                 "data_dir": tmp_path}))
    with TestClient(app, raise_server_exceptions=False) as client:
        crypto = runtime_of(app).crypto
        store_message(db, crypto, tenant_a.mailbox, "k1", "t1",
                      make_raw("Key outage", "a body only the key opens"), ["INBOX"])
        headers = tenant_a.crm.headers()
        content = f"/v1/mailboxes/{tenant_a.mailbox.id}/messages/k1/content"
        assert client.get(content, headers=headers).status_code == 200

        away = tmp_path / "keys.unmounted"
        keys.rename(away)
        try:
            crypto.cache.clear()  # as when the cached data keys' TTL has run out
            down = client.get(content, headers=headers)
            assert down.status_code == 503
            assert down.headers["content-type"].startswith("application/problem+json")
            assert down.json()["code"] == "key_unavailable"
            assert "a body only the key opens" not in down.text
            metadata = client.get(content.removesuffix("/content"), headers=headers)
            assert metadata.status_code == 503  # the summary is sealed too
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["key_provider"] != "ok"
        finally:
            away.rename(keys)

        back = client.get(content, headers=headers)
        assert back.status_code == 200
        assert "a body only the key opens" in back.text
        assert client.get("/readyz").status_code == 200
