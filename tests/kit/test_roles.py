"""Database roles as code, on the real PostgreSQL: the SQL `gmail-gateway db roles` prints (the
recipe in docs/operations.md, byte for byte) is run with psql; then the app role serves the API
and appends to the log but cannot delete or rewrite a log row, even after
`SET gateway.audit_purge = 'on'`, while the purge role runs the retention job."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from gateway.app import create_app
from gateway.audit.chain import ensure_heads
from gateway.audit.retention import purge
from gateway.audit.signing import AuditSigner, TrustedKeys
from gateway.audit.writer import OperationLog
from gateway.kit.db import Database
from gateway.kit.roles import roles_sql
from gateway.kit.timeutil import utcnow
from gateway.settings import Settings
from tests.audit.conftest import append_each, make_record
from tests.support.world import TenantWorld

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Roles:
    app: str
    purge: str

    def url(self, database_url: str, role: str) -> str:
        return make_url(database_url).set(username=role, password=None).render_as_string(False)


def _psql(database_url: str, sql: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    url = make_url(database_url)
    done = subprocess.run(
        [psql, "-X", "-v", "ON_ERROR_STOP=1", "-h", url.host or "127.0.0.1",
         "-p", str(url.port or 5432), "-U", url.username or "postgres", "-d", url.database or ""],
        input=sql, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def roles(db: Database, database_url: str) -> Iterator[Roles]:
    suffix = uuid.uuid4().hex[:8]
    made = Roles(app=f"gw_app_{suffix}", purge=f"gw_purge_{suffix}")
    owner = make_url(database_url).username or "gateway"  # who ran the migrations
    _psql(database_url, roles_sql(owner=owner, app=made.app, purge=made.purge))
    yield made
    with db.engine.begin() as conn:
        for role in (made.app, made.purge):
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


def test_the_documented_recipe_is_the_printed_sql() -> None:
    assert roles_sql() in (ROOT / "docs" / "operations.md").read_text()


def _refused(database: Database, *statements: str) -> None:
    for statement in statements:
        with database.engine.connect() as conn:
            conn.execute(text("SET gateway.audit_purge = 'on'"))
            with pytest.raises(DBAPIError) as caught:
                conn.execute(text(statement))
            assert caught.value.orig is not None
            assert getattr(caught.value.orig, "sqlstate", "") == "42501", statement  # denied
            conn.rollback()


@pytest.mark.postgres_only  # database roles are PostgreSQL's
def test_the_app_role_appends_but_cannot_rewrite_history(
        roles: Roles, db: Database, database_url: str, settings: Settings,
        tenant_a: TenantWorld) -> None:
    app_url = roles.url(database_url, roles.app)
    with TestClient(create_app(settings.model_copy(update={"database_url": app_url})),
                    raise_server_exceptions=False) as client:
        served = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}",
                            headers=tenant_a.end_user.headers())
        assert served.status_code == 200, served.text  # the app works under these grants
        refused = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}",
                             headers=tenant_a.crm.headers("advertising"))
        assert refused.status_code == 403, refused.text  # a deny is logged too
    with db.engine.connect() as conn:
        logged = conn.execute(text("SELECT count(*) FROM audit_entries WHERE seq IS NOT NULL"
                                   )).scalar_one()
    assert logged >= 2

    as_app = Database.from_url(app_url)
    try:
        _refused(as_app,
                 "DELETE FROM audit_entries",
                 "UPDATE audit_entries SET decision = 'deny'",
                 "UPDATE audit_entries SET entry_hash = prev_hash",  # trigger: chained rows
                 "TRUNCATE audit_entries",
                 "DELETE FROM audit_checkpoints",
                 "UPDATE audit_checkpoints SET seq = seq + 1",
                 "DELETE FROM audit_anchors",
                 "DELETE FROM audit_chain_heads",
                 "UPDATE alembic_version SET version_num = 'x'")
    finally:
        as_app.dispose()


@pytest.mark.postgres_only
def test_the_purge_role_runs_the_retention_job(roles: Roles, db: Database,
                                              database_url: str) -> None:
    signer = AuditSigner.generate()
    old = utcnow() - timedelta(days=400)
    with db.transaction() as session:
        ensure_heads(session, 8)
    append_each(db, OperationLog(max_clock_skew=timedelta(days=3650)),
                [make_record(occurred_at=old + timedelta(minutes=n)) for n in range(3)])
    append_each(db, OperationLog(), [make_record() for _ in range(2)])

    as_app = Database.from_url(roles.url(database_url, roles.app))
    try:
        with pytest.raises(DBAPIError), as_app.transaction() as session:
            purge(session, retention_days=365, signer=signer,
                  trusted=TrustedKeys([signer.private_key.public_key()]))
    finally:
        as_app.dispose()

    as_purge = Database.from_url(roles.url(database_url, roles.purge))
    try:
        with as_purge.transaction() as session:
            report = purge(session, retention_days=365, signer=signer,
                           trusted=TrustedKeys([signer.private_key.public_key()]))
    finally:
        as_purge.dispose()
    assert report.removed == 3
    with db.engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM audit_entries "
                                 "WHERE operation <> 'audit:log:purged'")).scalar_one()
    assert left == 2
