"""Callers: API keys, purposes and tenant isolation, through the HTTP API with real policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.accounts import service
from gateway.accounts.models import ApiKey
from gateway.kit.db import Database
from gateway.policy.vocabulary import PROHIBITED_PURPOSES
from tests.support.world import TEST_PEPPER, TenantWorld

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith("/" + code)
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_owner_lists_own_mailbox(client: TestClient, tenant_a: TenantWorld) -> None:
    response = client.get("/v1/mailboxes", headers=tenant_a.end_user.headers())
    assert response.status_code == 200, response.text
    assert [m["id"] for m in response.json()["items"]] == [str(tenant_a.mailbox.id)]
    other = client.get("/v1/mailboxes", headers=tenant_a.other_user.headers())
    assert other.status_code == 200
    assert other.json()["items"] == []


def test_missing_or_malformed_credentials(client: TestClient, tenant_a: TenantWorld) -> None:
    assert_problem(client.get("/v1/mailboxes"), 401, "authentication_required")
    assert_problem(client.get("/v1/mailboxes", headers={"Authorization": "Basic abc"}),
                   401, "authentication_required")
    assert_problem(client.get("/v1/mailboxes", headers={"Authorization": "Bearer nope"}),
                   401, "invalid_api_key")
    forged = "gmgw_" + "A" * 43
    assert_problem(client.get("/v1/mailboxes", headers={"Authorization": f"Bearer {forged}",
                                                        "Gateway-Purpose": "user_facing"}),
                   401, "invalid_api_key")


def revoke_crm_key(session: Session, world: TenantWorld) -> None:
    """Revoke tenant-a's CRM service key in `session` (committed with it)."""
    key = session.scalar(select(ApiKey).where(ApiKey.principal_id == world.crm.principal.id))
    assert key is not None
    service.revoke_api_key(session, service.get_tenant(session, "tenant-a"), key.prefix)


def test_revoked_and_expired_keys(client: TestClient, db: Database,
                                  tenant_a: TenantWorld) -> None:
    headers = tenant_a.crm.headers()
    assert client.get("/v1/mailboxes", headers=headers).status_code == 200
    with db.transaction() as s:
        revoke_crm_key(s, tenant_a)
    assert_problem(client.get("/v1/mailboxes", headers=headers), 401, "api_key_revoked")

    with db.transaction() as s:
        principal = service.get_principal(s, service.get_tenant(s, "tenant-a"),
                                          tenant_a.operator.id)
        issued = service.create_api_key(s, TEST_PEPPER.encode(), principal,
                                        expires_at=datetime.now(UTC) + timedelta(hours=1))
        s.get(ApiKey, issued.key.id).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    expired = {"Authorization": f"Bearer {issued.secret}", "Gateway-Purpose": "support"}
    assert_problem(client.get("/v1/mailboxes", headers=expired), 401, "api_key_expired")


@pytest.mark.clause("lu.user_facing")
def test_purpose_is_required_and_must_be_declared(client: TestClient,
                                                  tenant_a: TenantWorld) -> None:
    assert_problem(client.get("/v1/mailboxes", headers=tenant_a.crm.headers(purpose=None)),
                   400, "purpose_required")
    body = assert_problem(
        client.get("/v1/mailboxes", headers=tenant_a.crm.headers(purpose="whatever")),
        400, "purpose_unknown")
    assert "user_facing" in body["declared_purposes"]


@pytest.mark.clause("lu.advertising", "lu.sale", "lu.credit", "lu.ai_training")
def test_prohibited_purpose_is_denied_by_policy(client: TestClient,
                                                tenant_a: TenantWorld) -> None:
    for purpose in sorted(PROHIBITED_PURPOSES):
        for actor in (tenant_a.crm, tenant_a.end_user, tenant_a.operator):
            body = assert_problem(
                client.get("/v1/mailboxes", headers=actor.headers(purpose=purpose)),
                403, "policy_denied")
            assert any(r.startswith("purpose_prohibited") for r in body["reasons"]), body


def test_another_tenants_mailbox_is_not_found(client: TestClient, tenant_a: TenantWorld,
                                              tenant_b: TenantWorld) -> None:
    own = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}", headers=tenant_a.crm.headers())
    assert own.status_code == 200, own.text
    theirs = client.get(f"/v1/mailboxes/{tenant_b.mailbox.id}", headers=tenant_a.crm.headers())
    assert_problem(theirs, 404, "mailbox_not_found")
    missing = client.get("/v1/mailboxes/00000000-0000-0000-0000-000000000000",
                         headers=tenant_a.crm.headers())
    assert missing.json()["detail"] == theirs.json()["detail"]
    assert_problem(client.get("/v1/mailboxes/not-a-uuid", headers=tenant_a.crm.headers()),
                   404, "mailbox_not_found")


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404, "not_found")
    assert_problem(client.delete("/healthz"), 405, "method_not_allowed")


def test_request_id_is_echoed_when_sane(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": "abc12345-from-crm"})
    assert response.headers["x-request-id"] == "abc12345-from-crm"
    response = client.get("/healthz", headers={"X-Request-Id": "bad id\nwith newline"})
    assert response.headers["x-request-id"] != "bad id\nwith newline"
    assert len(response.headers["x-request-id"]) == 32
