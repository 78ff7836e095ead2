"""The endpoints API: the CRM service of a tenant only, the secret shown once and sealed at rest,
other tenants' ids are 404, bad URLs are 422 problems, SSRF targets refused in production."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gateway.audit.writer import OperationLog
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.kit.errors import ValidationFailed
from gateway.settings import Environment, Settings
from gateway.webhooks import signing
from gateway.webhooks.urls import validate_url
from tests.support.world import TenantWorld

from .conftest import Receiver
from .helpers import deliveries, register, run_pass, store_one


def test_create_shows_the_secret_once_and_seals_it(
        client: TestClient, db: Database, tenant_a: TenantWorld, receiver: Receiver) -> None:
    created = register(client, tenant_a, receiver.url, description="CRM inbox",
                       event_types=["message.created", "message.created", "message.deleted"])
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert created["event_types"] == ["message.created", "message.deleted"]
    headers = tenant_a.crm.headers()
    listed = client.get("/v1/webhooks", headers=headers)
    one = client.get(f"/v1/webhooks/{created['id']}", headers=headers)
    assert listed.status_code == one.status_code == 200
    assert [e["id"] for e in listed.json()["items"]] == [created["id"]]
    assert secret not in listed.text and secret not in one.text and "secret\"" not in one.text
    with db.transaction() as s:
        stored = s.execute(text("SELECT secret FROM webhook_endpoints")).scalar_one()
    assert secret.encode() not in bytes(stored)


def test_only_the_crm_service_of_the_tenant(
        client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld,
        receiver: Receiver) -> None:
    endpoint = register(client, tenant_a, receiver.url)
    base = f"/v1/webhooks/{endpoint['id']}"
    other = tenant_b.crm.headers()
    calls = [("GET", base, None), ("PATCH", base, {"active": False}), ("DELETE", base, None),
             ("POST", base + "/rotate-secret", None), ("GET", base + "/deliveries", None),
             ("POST", base + "/deliveries/00000000-0000-4000-8000-000000000000/redeliver",
              None)]
    for method, path, body in calls:
        response = client.request(method, path, headers=other, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "webhook_not_found"
    assert client.get("/v1/webhooks", headers=other).json()["items"] == []
    assert client.get("/v1/webhooks/not-a-uuid",
                      headers=tenant_a.crm.headers()).status_code == 404
    for actor in (tenant_a.end_user, tenant_a.operator):
        purpose = "support" if actor is tenant_a.operator else "user_facing"
        assert client.get("/v1/webhooks", headers=actor.headers(purpose)).status_code == 403
        assert client.post("/v1/webhooks", json={"url": receiver.url},
                           headers=actor.headers(purpose)).status_code == 403
    assert client.get("/v1/webhooks",
                      headers=tenant_a.crm.headers("contact_linking")).status_code == 403
    assert client.get(base, headers=tenant_a.crm.headers()).json()["active"] is True


@pytest.mark.parametrize(("url", "code"), [
    ("ftp://crm.example.com/hook", "webhook_url_invalid"),
    ("not a url", "webhook_url_invalid"),
    ("https://", "webhook_url_invalid"),
    ("http://crm.example.com/hook", "webhook_url_not_https"),
    ("http://10.0.0.5/hook", "webhook_url_not_https"),
    ("https://user:pw@crm.example.com/hook", "webhook_url_invalid"),
    ("https://crm.example.com/hook#frag", "webhook_url_invalid"),
    ("https://crm.example.com/" + "a" * 2100, "validation_failed"),
])
def test_bad_urls_are_422_problems(client: TestClient, tenant_a: TenantWorld, url: str,
                                   code: str) -> None:
    response = client.post("/v1/webhooks", json={"url": url}, headers=tenant_a.crm.headers())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_bad_bodies_are_422_problems(client: TestClient, tenant_a: TenantWorld,
                                     receiver: Receiver) -> None:
    headers = tenant_a.crm.headers()
    for body in ({"url": receiver.url, "event_types": ["message.read"]},
                 {"url": receiver.url, "secret": "mine"}, {}):
        response = client.post("/v1/webhooks", json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    endpoint = register(client, tenant_a, receiver.url)
    for body in ({}, {"url": "http://crm.example.com/"}):
        response = client.patch(f"/v1/webhooks/{endpoint['id']}", json=body, headers=headers)
        assert response.status_code == 422, response.text


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/hook",
    "https://172.16.0.1/hook", "https://192.168.1.1/hook", "https://169.254.169.254/latest",
    "https://100.64.0.1/hook", "https://[::1]/hook", "https://[fe80::1]/hook",
    "https://[fd00::1]/hook", "https://[::ffff:10.0.0.1]/hook", "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
])
def test_production_refuses_non_public_targets(settings: Settings, url: str) -> None:
    prod = settings.model_copy(update={"environment": Environment.prod})
    with pytest.raises(ValidationFailed) as refused:
        validate_url(url, prod)
    assert refused.value.code == "webhook_url_blocked"


def test_production_needs_https_and_accepts_a_public_address(settings: Settings) -> None:
    prod = settings.model_copy(update={"environment": Environment.prod})
    with pytest.raises(ValidationFailed) as refused:
        validate_url("http://localhost:8080/hook", prod)
    assert refused.value.code == "webhook_url_not_https"
    assert validate_url("https://8.8.8.8/hook", prod) == "https://8.8.8.8/hook"
    # outside production: plain http to this machine only
    assert validate_url("http://localhost:8080/hook", settings)
    assert validate_url("http://127.0.0.1:8080/hook", settings)


def test_production_checks_the_target_again_before_sending(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService,
        hook_settings: Settings, oplog: OperationLog, receiver: Receiver) -> None:
    endpoint = register(client, tenant_a, receiver.url)  # allowed when registered (test)
    store_one(db, app_crypto, tenant_a, "18d001")
    prod = hook_settings.model_copy(update={"environment": Environment.prod})
    assert run_pass(db, app_crypto, prod, oplog).retrying == 1
    (delivery,) = deliveries(db, endpoint["id"])
    assert delivery.last_error is not None and delivery.last_error.startswith("blocked_target")
    assert receiver.received == []


def test_rotate_delete_and_pause(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService,
        hook_settings: Settings, oplog: OperationLog, receiver: Receiver) -> None:
    headers = tenant_a.crm.headers()
    endpoint = register(client, tenant_a, receiver.url)
    rotated = client.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret", headers=headers)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != endpoint["secret"] and rotated.json()["secret_version"] == 2
    store_one(db, app_crypto, tenant_a, "18d002")
    run_pass(db, app_crypto, hook_settings, oplog)
    (got,) = receiver.received
    signature = got.headers[signing.SIGNATURE_HEADER]
    assert signing.verify(new_secret, got.body, signature)
    assert not signing.verify(endpoint["secret"], got.body, signature)

    paused = client.patch(f"/v1/webhooks/{endpoint['id']}", json={"active": False},
                          headers=headers)
    assert paused.status_code == 200 and paused.json()["active"] is False
    store_one(db, app_crypto, tenant_a, "18d003")
    run_pass(db, app_crypto, hook_settings, oplog)
    assert len(receiver.received) == 1

    deleted = client.delete(f"/v1/webhooks/{endpoint['id']}", headers=headers)
    assert deleted.status_code == 204
    assert client.get(f"/v1/webhooks/{endpoint['id']}", headers=headers).status_code == 404
    assert deliveries(db, endpoint["id"]) == []
    assert json.loads(got.body)["data"]["message_id"] == "18d002"
