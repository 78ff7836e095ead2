"""Liveness, readiness and metrics, and readiness failing closed when the policy engine is down."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.policy.contract import Decision, PolicyEngineUnavailable
from gateway.settings import Settings
from tests.support.world import TenantWorld


class DownEngine:
    """The policy engine as seen while it is unreachable."""

    name = "down"
    revision = "none"

    def decide(self, policy_input: Mapping[str, Any]) -> Decision:
        raise PolicyEngineUnavailable("connection refused")

    def ping(self) -> None:
        raise PolicyEngineUnavailable("connection refused")

    def close(self) -> None:
        pass


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "policy_engine": "ok",
                                      "key_provider": "ok"}


def test_metrics_count_requests_and_decisions(client: TestClient, tenant_a: TenantWorld) -> None:
    client.get("/v1/mailboxes", headers=tenant_a.crm.headers())
    client.get("/v1/mailboxes", headers=tenant_a.crm.headers(purpose="credit_scoring"))
    text = client.get("/metrics").text
    assert 'gateway_requests_total{method="GET",route="/v1/mailboxes",status="200"}' in text
    assert 'gateway_policy_decisions_total{outcome="allow"}' in text
    assert 'gateway_policy_decisions_total{outcome="deny"}' in text
    assert "gateway_request_duration_seconds_bucket" in text


def test_engine_down_means_not_ready_and_503(settings: Settings, db: object,
                                            tenant_a: TenantWorld) -> None:
    with TestClient(create_app(settings, engine=DownEngine()),
                    raise_server_exceptions=False) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["policy_engine"] == "unavailable"
        response = client.get("/v1/mailboxes", headers=tenant_a.crm.headers())
        assert response.status_code == 503
        assert response.json()["code"] == "policy_engine_unavailable"
        assert "items" not in response.json()
