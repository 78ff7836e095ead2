"""The scenario every compliance test reports on, and the CLI's environment for the test app's
database, keys and OPA."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.kit.db import Database
from gateway.settings import Settings
from tests.compliance.scenario import Scenario, play
from tests.conftest import ROOT, TEST_PEPPER, TenantWorld


@pytest.fixture
def scenario(client: TestClient, db: Database, tenant_a: TenantWorld) -> Scenario:
    return play(client, db, tenant_a)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    """`gmail-gateway` run in-process on the test app's database, keys and OPA server."""
    env = {"GATEWAY_DATABASE_URL": settings.database_url,
           "GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_ENVIRONMENT": "test",
           "GATEWAY_KEY_FILE": str(settings.key_file),
           "GATEWAY_POLICY_ENGINE_URL": settings.policy_engine_url or "",
           "GATEWAY_POLICY_DIR": str(ROOT / "policies"), "GATEWAY_API_KEY_PEPPER": TEST_PEPPER}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return settings


def report_dir(tmp_path: Path, name: str = "report") -> Path:
    return tmp_path / name
