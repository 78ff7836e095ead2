"""The provisioning API: with nothing but a tenant admin's key (made with the command line), a
CRM onboards a new end user over HTTP: creates the principal, gets them a connect link (the
OAuth flow through the Google emulator), then a privacy-center link that opens their page.
And the admin's other work: operators with groups, keys shown once and revoked, principals
disabled; all within the admin's tenant, all guarded and logged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.testing import RunningEmulator
from gateway.cli import main
from gateway.kit.db import Database
from gateway.settings import Settings
from tests.google_world import RETURN_URL, consent_at_google, follow_callback, query
from tests.pages.support import link_path, log_entries
from tests.support.world import TEST_PEPPER, TenantWorld

ADMIN = "administration"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def admin_key(settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch,
              capsys: pytest.CaptureFixture[str]) -> str:
    """The first tenant admin key, as an operator of the gateway makes it: two commands."""
    for name, value in {"GATEWAY_DATABASE_URL": settings.database_url,
                        "GATEWAY_DATA_DIR": str(settings.data_dir),
                        "GATEWAY_KEY_FILE": str(settings.key_file),
                        "GATEWAY_API_KEY_PEPPER": TEST_PEPPER,
                        "GATEWAY_ENVIRONMENT": "test"}.items():
        monkeypatch.setenv(name, value)
    cli(capsys, "tenants", "create", "crm-co", "--name", "CRM Co")
    admin = cli(capsys, "principals", "create", "--tenant", "crm-co", "--kind", "tenant_admin",
                "--subject", "admin@crm-co", "--display-name", "CRM Co admin")
    issued = cli(capsys, "api-keys", "create", "--tenant", "crm-co", "--principal", admin["id"])
    return str(issued["api_key"])


def as_admin(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Gateway-Purpose": ADMIN}


def test_a_crm_onboards_an_end_user_with_only_http_and_an_admin_key(
        gw: TestClient, emu: RunningEmulator, db: Database, admin_key: str) -> None:
    gw.cookies.clear()
    made = gw.post("/v1/principals", headers=as_admin(admin_key), json={
        "kind": "end_user", "subject": "crm-user-42", "display_name": "Alice Example"})
    assert made.status_code == 201, made.text
    user = made.json()
    assert (user["kind"], user["display_name"], user["disabled_at"]) == (
        "end_user", "Alice Example", None)

    connect = gw.post("/v1/connect", headers=as_admin(admin_key), json={
        "end_user_id": user["id"], "features": ["read"], "return_url": RETURN_URL})
    assert connect.status_code == 201, connect.text
    callback = consent_at_google(gw, emu, connect.json()["consent_url"])
    back = follow_callback(gw, callback)
    assert back.status_code == 302 and back.headers["location"].startswith(RETURN_URL)
    assert query(back.headers["location"])["status"] == "connected"

    link = gw.post("/v1/sessions", headers=as_admin(admin_key),
                   json={"principal_id": user["id"]})
    assert link.status_code == 201, link.text
    assert link.json()["persona"] == "privacy"
    opened = gw.get(link_path(link.json()))
    assert opened.status_code == 303 and opened.headers["location"] == "/me"
    home = gw.get("/me")
    assert home.status_code == 200 and "Signed in as <strong>Alice Example</strong>" in home.text
    gw.cookies.clear()

    logged = {(e.action, e.decision) for e in log_entries(db, "principal.manage")
              + log_entries(db, "oauth.connect") + log_entries(db, "session.create")}
    assert {("principal.manage", "allow"), ("oauth.connect", "allow"),
            ("session.create", "allow")} <= logged


def test_keys_are_shown_once_listed_by_prefix_and_revoked_at_once(
        client: TestClient, db: Database, admin_key: str) -> None:
    crm = client.post("/v1/principals", headers=as_admin(admin_key),
                      json={"kind": "crm_service", "subject": "crm-backend"}).json()
    issued = client.post(f"/v1/principals/{crm['id']}/api-keys", headers=as_admin(admin_key),
                         json={"name": "production"})
    assert issued.status_code == 201
    secret = issued.json()["key"]
    assert secret.startswith(issued.json()["prefix"]) and secret.startswith("gmgw_")
    crm_headers = {"Authorization": f"Bearer {secret}", "Gateway-Purpose": "user_facing"}
    assert client.get("/v1/mailboxes", headers=crm_headers).status_code == 200

    listed = client.get("/v1/api-keys", headers=as_admin(admin_key))
    assert listed.status_code == 200
    assert secret not in listed.text and "key" not in listed.json()["items"][0]
    assert {k["prefix"] for k in listed.json()["items"]} >= {issued.json()["prefix"]}

    revoked = client.delete(f"/v1/api-keys/{issued.json()['id']}", headers=as_admin(admin_key))
    assert revoked.status_code == 204
    assert client.get("/v1/mailboxes", headers=crm_headers).status_code == 401


def test_disabling_a_principal_stops_its_keys_and_sessions(
        client: TestClient, db: Database, admin_key: str) -> None:
    client.cookies.clear()
    operator = client.post("/v1/principals", headers=as_admin(admin_key), json={
        "kind": "operator", "subject": "op-7", "display_name": "Sam Support",
        "groups": ["support-l1"]}).json()
    assert operator["groups"] == ["support-l1"]
    key = client.post(f"/v1/principals/{operator['id']}/api-keys",
                      headers=as_admin(admin_key), json={}).json()["key"]
    link = client.post("/v1/sessions", headers=as_admin(admin_key),
                       json={"principal_id": operator["id"]}).json()
    assert client.get(link_path(link), follow_redirects=False).status_code == 303
    desk = client.get("/desk")
    assert desk.status_code == 200 and "Signed in as <strong>Sam Support</strong>" in desk.text

    disabled = client.post(f"/v1/principals/{operator['id']}/disable",
                           headers=as_admin(admin_key))
    assert disabled.status_code == 200 and disabled.json()["disabled_at"] is not None
    assert client.get("/desk").status_code == 401
    refused = client.get("/v1/mailboxes", headers={
        "Authorization": f"Bearer {key}", "Gateway-Purpose": "consent_management"})
    assert refused.status_code == 401 and refused.json()["code"] == "principal_disabled"
    again = client.post(f"/v1/principals/{operator['id']}/api-keys",
                        headers=as_admin(admin_key), json={})
    assert again.status_code == 409
    listed = client.get("/v1/principals?kind=operator", headers=as_admin(admin_key)).json()
    assert [p["subject"] for p in listed["items"]] == ["op-7"]
    client.cookies.clear()


def test_the_admin_stays_in_its_tenant_and_only_admins_provision(
        client: TestClient, db: Database, admin_key: str, tenant_b: TenantWorld) -> None:
    other = client.get(f"/v1/principals/{tenant_b.end_user.id}", headers=as_admin(admin_key))
    assert other.status_code == 404 and other.json()["code"] == "principal_not_found"
    assert log_entries(db, "principal.read")[-1].reasons == ["not_found"]
    assert client.post(f"/v1/principals/{tenant_b.end_user.id}/api-keys",
                       headers=as_admin(admin_key), json={}).status_code == 404
    other_session = client.post("/v1/sessions", headers=as_admin(admin_key),
                                json={"principal_id": tenant_b.end_user.id})
    assert other_session.status_code == 404

    by_crm = client.post("/v1/principals", headers=tenant_b.crm.headers(ADMIN),
                         json={"kind": "end_user", "subject": "x"})
    assert by_crm.status_code == 403 and by_crm.json()["reasons"] == ["action_not_permitted"]
    mail = client.get("/v1/mailboxes", headers=as_admin(admin_key))
    assert mail.status_code == 403
    bad_kind = client.post("/v1/principals", headers=as_admin(admin_key),
                           json={"kind": "system", "subject": "x"})
    assert bad_kind.status_code == 422
    duplicate = {"kind": "end_user", "subject": "same"}
    assert client.post("/v1/principals", headers=as_admin(admin_key),
                       json=duplicate).status_code == 201
    conflict = client.post("/v1/principals", headers=as_admin(admin_key), json=duplicate)
    assert conflict.status_code == 409 and conflict.json()["code"] == "principal_exists"
