"""The two ways delivery runs: the scheduler's `webhooks-deliver` job and `gmail-gateway
webhooks deliver`."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from gateway.cli import main
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.runtime import runtime_of
from gateway.scheduler.jobs import JobContext, configured_jobs
from gateway.scheduler.runner import Scheduler
from gateway.settings import Settings
from gateway.sync.worker import build_services
from tests.support.world import TEST_PEPPER, TenantWorld

from .conftest import Receiver
from .helpers import deliveries, register, store_one


def test_the_scheduler_delivers_as_a_periodic_job(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService,
        hook_settings: Settings, receiver: Receiver) -> None:
    endpoint = register(client, tenant_a, receiver.url)
    store_one(db, app_crypto, tenant_a, "18e001")
    enforcer = runtime_of(client.app).enforcer
    services = build_services(hook_settings, db, app_crypto, enforcer)
    jobs = configured_jobs(hook_settings, ["webhooks-deliver"])
    assert jobs[0].cadence_seconds <= 5
    assert Scheduler(JobContext(services), jobs).run_due() == {"webhooks-deliver": "ok"}
    assert len(receiver.received) == 1
    (delivery,) = deliveries(db, endpoint["id"])
    assert delivery.status == "delivered"


def test_the_cli_delivers_what_is_due(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService,
        settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = register(client, tenant_a, receiver.url)
    store_one(db, app_crypto, tenant_a, "18e002")
    for name, value in (("DATABASE_URL", settings.database_url), ("ENVIRONMENT", "test"),
                        ("DATA_DIR", str(settings.data_dir)),
                        ("KEY_FILE", str(settings.key_file)), ("API_KEY_PEPPER", TEST_PEPPER)):
        monkeypatch.setenv(f"GATEWAY_{name}", value)
    assert main(["webhooks", "deliver"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["delivered"] == 1 and report["dead"] == 0
    assert json.loads(receiver.received[0].body)["data"]["message_id"] == "18e002"
    assert deliveries(db, endpoint["id"])[0].status == "delivered"
