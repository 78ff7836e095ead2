"""Migration 0003: entries written under 0001 (unchained) come out chained and verifiable, on
PostgreSQL (partitioned) and SQLite; the schema matches the models for the audit tables."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway.audit.partitions import is_partitioned
from gateway.audit.signing import TrustedKeys
from gateway.kit.db import Database
from gateway.kit.migrate import downgrade, upgrade
from tests.audit.conftest import run_verify
from tests.support.database import create_database, drop_database

LEGACY_ROW = """INSERT INTO audit_entries (id, occurred_at, shard, seq, prev_hash, entry_hash,
    request_id, tenant_id, mailbox_id, actor_kind, actor_id, connection_id, client_ip,
    user_agent, device_id, protocol, operation, action, purpose, resource_type, resource_ids,
    decision, reasons, policy_revision, detail)
VALUES (:id, :at, 0, :seq, :empty, :empty, 'req-legacy', :tenant, NULL, 'end_user', 'u-1',
    'api_key:gw_old', '127.0.0.1', 'curl', NULL, 'https/rest 1.1', 'mail:mailbox:read',
    'mail.mailbox.read', 'user_facing', 'mailbox', '["m-1"]', 'allow', '["allow_owner"]',
    'rev-0', '{"k": 1}')"""


def _legacy_rows(url: str, count: int) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for i in range(count):
            conn.execute(text(LEGACY_ROW), {
                "id": uuid.uuid4().hex if url.startswith("sqlite") else uuid.uuid4(),
                "at": datetime.now(UTC) - timedelta(days=i), "empty": b"", "seq": i,
                "tenant": uuid.uuid4().hex if url.startswith("sqlite") else uuid.uuid4()})
    engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_rows_from_0001_are_chained_by_the_upgrade(backend: str, pg_admin_url: str,
                                                   tmp_path: Path) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'gateway.db'}"
    else:
        url = create_database(pg_admin_url, "gw_audit_migration")
    try:
        upgrade(url, "0002_crypto")
        _legacy_rows(url, 3)
        upgrade(url)
        database = Database.from_url(url)
        report = run_verify(database, TrustedKeys())
        assert report.ok, report.problems
        assert report.entries == 3
        with database.transaction() as session:
            assert is_partitioned(session) == (backend == "postgresql")
        database.dispose()
        downgrade(url, "0002_crypto")
        upgrade(url)
    finally:
        if backend == "postgresql":
            drop_database(pg_admin_url, url)
