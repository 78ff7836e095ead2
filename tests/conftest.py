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
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.kit.db import Database
from gateway.kit.migrate import upgrade
from gateway.settings import Settings
from tests.support.database import PG_ENV, empty_tables, migrated_database
from tests.support.world import ROOT, TenantWorld, build_tenant, make_settings

pytest_plugins = ["tests.google_world"]  # the emulator, an app on it, a scripted user



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


@pytest.fixture(scope="session")
def opa_binary() -> Path:
    candidate = Path(os.environ.get("GATEWAY_OPA_BINARY", ROOT / ".tools" / "bin" / "opa"))
    if not candidate.exists():
        _require("the OPA binary (.tools/bin/opa)")
    return candidate


@pytest.fixture(scope="session")
def opa_url(opa_binary: Path) -> Iterator[str]:
    from tests.support.opa_process import run_opa_server

    with run_opa_server(opa_binary, ROOT / "policies") as url:
        yield url


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


@pytest.fixture
def tenant_a(db: Database) -> TenantWorld:
    return build_tenant(db, "tenant-a")


@pytest.fixture
def tenant_b(db: Database) -> TenantWorld:
    return build_tenant(db, "tenant-b")
