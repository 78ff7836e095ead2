"""Fail closed: when the operation log cannot be written, data requests get 503 and nothing is
served. The app runs as a separate, non-superuser database role whose privileges on the log
are revoked mid-run (as a broken grant or a full disk would do)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text

import gateway.app as app_module
from gateway.kit.db import Database
from gateway.settings import Settings
from tests.support.world import TenantWorld

pytestmark = pytest.mark.postgres_only  # database roles without INSERT on the log: PostgreSQL only


@pytest.fixture
def app_role(db: Database) -> Iterator[str]:
    role = f"gw_app_{uuid.uuid4().hex[:10]}"
    with db.engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA public, audit_partitions TO "{role}"'))
        conn.execute(text("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
                          f'TO "{role}"'))
    yield role
    with db.engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))


@pytest.fixture
def role_client(app_role: str, settings: Settings, database_url: str) -> Iterator[TestClient]:
    url = make_url(database_url).set(username=app_role, password=None)
    role_settings = settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False)})
    app = app_module.create_app(role_settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _grant(db: Database, statement: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(statement))


def _assert_nothing_served(response_json: dict[str, object]) -> None:
    for leaked in ("items", "owner_principal_id", "granted_scopes", "state"):
        assert leaked not in response_json


def test_revoking_insert_on_the_log_turns_data_requests_into_503(
        db: Database, role_client: TestClient, app_role: str, tenant_a: TenantWorld) -> None:
    mailbox = f"/v1/mailboxes/{tenant_a.mailbox.id}"
    owner = tenant_a.end_user.headers()
    works = role_client.get(mailbox, headers=owner)
    assert works.status_code == 200, works.text  # the role works

    _grant(db, f'REVOKE INSERT ON audit_entries FROM "{app_role}"')
    for path, headers in ((mailbox, owner), ("/v1/mailboxes", tenant_a.crm.headers()),
                          (mailbox, tenant_a.crm.headers("advertising")),  # a deny, too
                          ("/v1/audit/entries", tenant_a.reviewer.headers("audit_review"))):
        response = role_client.get(path, headers=headers)
        assert response.status_code == 503, (path, response.text)
        assert response.json()["code"] == "operation_log_unavailable"
        _assert_nothing_served(response.json())

    _grant(db, f'GRANT INSERT ON audit_entries TO "{app_role}"')
    assert role_client.get(mailbox, headers=owner).status_code == 200  # and it recovers


def test_a_log_that_cannot_be_chained_at_commit_also_refuses(
        db: Database, role_client: TestClient, app_role: str, tenant_a: TenantWorld) -> None:
    mailbox = f"/v1/mailboxes/{tenant_a.mailbox.id}"
    _grant(db, f'REVOKE UPDATE ON audit_chain_heads FROM "{app_role}"')
    response = role_client.get(mailbox, headers=tenant_a.end_user.headers())
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "operation_log_unavailable"
    _assert_nothing_served(response.json())
    with db.engine.connect() as conn:  # the refused request left nothing behind
        assert conn.execute(text("SELECT count(*) FROM audit_entries "
                                 "WHERE seq IS NULL")).scalar() == 0
