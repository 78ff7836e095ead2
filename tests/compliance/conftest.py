"""The scenario every compliance test reports on, and the CLI's environment for the test app's
database, keys and OPA."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.kit.db import Database
from gateway.settings import Settings
from tests.compliance.scenario import Scenario, cli_environment, play
from tests.support.world import TenantWorld


@pytest.fixture
def scenario(client: TestClient, db: Database, tenant_a: TenantWorld) -> Scenario:
    return play(client, db, tenant_a)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    for name, value in cli_environment(settings).items():
        monkeypatch.setenv(name, value)
    return settings
