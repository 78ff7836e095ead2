"""Shared fixtures: a real PostgreSQL database with the migrations applied (tables truncated after
each test), a real OPA server process, and an app wired to both.

Why truncation rather than a rolled-back outer transaction: the enforcement point deliberately
writes denials in their own transaction so a request rollback cannot erase them; nesting every
test in one connection would fake that away.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, make_url, text

from gateway.accounts import service as accounts
from gateway.accounts.models import Principal, Tenant
from gateway.app import create_app
from gateway.kit.db import Database
from gateway.kit.migrate import upgrade
from gateway.kit.schema import load_all_models
from gateway.mail.models import Mailbox
from gateway.policy.vocabulary import SCOPE_READONLY, SCOPE_SEND
from gateway.settings import Environment, Settings

pytest_plugins = ["tests.google_world"]  # the emulator, an app on it, a scripted user

ROOT = Path(__file__).resolve().parents[1]
PG_ENV = "GATEWAY_TEST_DATABASE_URL"
TEST_PEPPER = "test-pepper-0123456789abcdef"


def _require(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI; run the tests through scripts/test.sh")
    pytest.skip(f"{what} not available; run the tests through scripts/test.sh")


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        _require(f"PostgreSQL ({PG_ENV})")
    assert url is not None
    return url


def create_database(admin_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def migrated_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A fresh database named `<prefix>_<random>` with every migration applied, dropped (with
    FORCE) afterwards: for tests and benchmarks alike."""
    url = create_database(admin_url, prefix)
    try:
        upgrade(url)
        yield url
    finally:
        drop_database(admin_url, url)


@pytest.fixture(scope="session")
def database_url(pg_admin_url: str) -> Iterator[str]:
    with migrated_database(pg_admin_url, "gw_test") as url:
        yield url


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database.from_url(database_url)
    yield db
    db.dispose()


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The test database, emptied after the test."""
    yield database
    tables = ", ".join(f'"{t.name}"' for t in load_all_models().sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def opa_binary() -> Path:
    candidate = Path(os.environ.get("GATEWAY_OPA_BINARY", ROOT / ".tools" / "bin" / "opa"))
    if not candidate.exists():
        _require("the OPA binary (.tools/bin/opa)")
    return candidate


@pytest.fixture(scope="session")
def opa_url(opa_binary: Path) -> Iterator[str]:
    from gateway.policy.engines.opa_process import run_opa_server

    with run_opa_server(opa_binary, ROOT / "policies") as url:
        yield url


def make_settings(database_url: str, tmp: Path, opa_url: str | None) -> Settings:
    return Settings(environment=Environment.test, database_url=database_url, data_dir=tmp,
                    key_file=tmp / "keys" / "kek.json", policy_engine_url=opa_url,
                    policy_dir=ROOT / "policies", api_key_pepper=SecretStr(TEST_PEPPER))


@pytest.fixture(scope="session")
def settings(database_url: str, opa_url: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Settings:
    return make_settings(database_url, tmp_path_factory.mktemp("gateway"), opa_url)


@pytest.fixture(scope="session")
def app_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient, db: Database) -> TestClient:
    return app_client


@dataclass
class Actor:
    principal: Principal
    key: str

    @property
    def id(self) -> str:
        return str(self.principal.id)

    def headers(self, purpose: str | None = "user_facing") -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}"}
        if purpose is not None:
            headers["Gateway-Purpose"] = purpose
        return headers


@dataclass
class TenantWorld:
    tenant: Tenant
    end_user: Actor
    other_user: Actor
    crm: Actor
    operator: Actor
    reviewer: Actor
    analytics: Actor
    mailbox: Mailbox


def build_tenant(db: Database, slug: str) -> TenantWorld:
    pepper = TEST_PEPPER.encode()
    with db.transaction() as s:
        tenant = accounts.create_tenant(s, slug)

        def actor(kind: str, subject: str, groups: list[str] | None = None) -> Actor:
            principal = accounts.create_principal(s, tenant, kind, subject, groups=groups)
            return Actor(principal, accounts.create_api_key(s, pepper, principal).secret)

        world = TenantWorld(
            tenant=tenant,
            end_user=actor("end_user", "alice@" + slug),
            other_user=actor("end_user", "bob@" + slug),
            crm=actor("crm_service", "crm-backend"),
            operator=actor("operator", "support-1", ["support"]),
            reviewer=actor("reviewer", "auditor-1"),
            analytics=actor("analytics", "metrics-job"),
            mailbox=Mailbox(),
        )
        mailbox = Mailbox(tenant_id=tenant.id, owner_principal_id=world.end_user.principal.id,
                          granted_scopes=[SCOPE_READONLY, SCOPE_SEND])
        s.add(mailbox)
        s.flush()
        world.mailbox = mailbox
    return world


@pytest.fixture
def tenant_a(db: Database) -> TenantWorld:
    return build_tenant(db, "tenant-a")


@pytest.fixture
def tenant_b(db: Database) -> TenantWorld:
    return build_tenant(db, "tenant-b")
