"""Shared fixtures: a real database with the migrations applied (emptied after each test), a real
OPA server process, and an app wired to both.

The database is PostgreSQL, or with `--db sqlite` a SQLite file (the embedded default): CI runs
the API-level and black-box suites on both (scripts/test.sh). A test that needs PostgreSQL
itself (roles, partitions, a second database) asks for `pg_admin_url` or carries the
`postgres_only` marker, and is skipped on SQLite.

Why truncation rather than a rolled-back outer transaction: the enforcement point deliberately
writes denials in their own transaction so a request rollback cannot erase them; nesting every
test in one connection would fake that away.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=("postgresql", "sqlite"),
                     default=os.environ.get("GATEWAY_TEST_DB", "postgresql"),
                     help="the database the `database_url` fixture provides (default "
                          "postgresql; GATEWAY_TEST_DB sets it too)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres_only: runs only with --db postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The clauses a test proves reach the JUnit XML as properties (the compliance report reads
    # them from there, with each test's result).
    for item in items:
        for mark in item.iter_markers("clause"):
            item.user_properties += [("clause", str(clause)) for clause in mark.args]
    if config.getoption("--db") != "sqlite":
        return
    skip = pytest.mark.skip(reason="PostgreSQL only (this run is --db sqlite)")
    for item in items:
        if "postgres_only" in item.keywords or "pg_admin_url" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


def _require(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI; run the tests through scripts/test.sh")
    pytest.skip(f"{what} not available; run the tests through scripts/test.sh")


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A command run in-process (`gateway.cli.main`) configures logging as a process would: a
    plain StreamHandler on the stderr of that moment, which pytest closes after the test. Such
    handlers are removed (pytest's own capture handlers are left to pytest) and the root level
    is put back, so later tests do not log into a closed stream."""
    root = logging.getLogger()
    before, level = set(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in before and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    root.setLevel(level)


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
def test_backend(request: pytest.FixtureRequest) -> str:
    """`postgresql` or `sqlite`: the database this run's `database_url` is on."""
    backend: str = request.config.getoption("--db")
    return backend


@pytest.fixture(scope="session")
def database_url(test_backend: str, request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if test_backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'gateway.db'}"
        upgrade(url)
        yield url
        return
    with migrated_database(request.getfixturevalue("pg_admin_url"), "gw_test") as url:
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
    empty_tables(database)


def empty_tables(database: Database) -> None:
    tables = load_all_models().sorted_tables
    with database.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for table in reversed(tables):  # children first: foreign keys are enforced
                conn.execute(table.delete())
            return
        names = ", ".join(f'"{t.name}"' for t in tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


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


def rows_as_text(conn: Any, table: Any) -> list[str]:
    """Each row of `table` as stored (no column types applied: ciphertext stays ciphertext),
    as one string, alike on PostgreSQL and SQLite: every value, bytes both as they are
    (Latin-1) and in hex, so a plaintext secret stored anywhere in the row shows in it."""
    texts = []
    for row in conn.execute(text(f'SELECT * FROM "{table.name}"')).all():
        parts = []
        for value in row:
            if isinstance(value, bytes | bytearray | memoryview):
                raw = bytes(value)
                parts += [raw.decode("latin-1"), raw.hex()]
            else:
                parts.append(str(value))
        texts.append(" | ".join(parts))
    return texts
