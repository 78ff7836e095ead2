"""Migration 0002_crypto matches gateway/crypto/models.py (SQLite always, PostgreSQL if set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from gateway.crypto.models import MailboxDataKey
from gateway.kit.db import make_engine
from gateway.kit.migrate import downgrade, upgrade
from gateway.kit.models import Base

TABLE = MailboxDataKey.__tablename__


def _touches_table(diff: Any) -> bool:
    items = diff if isinstance(diff, list) else [diff]
    for item in items:
        for part in item:
            table = getattr(part, "table", None)
            if getattr(part, "name", None) == TABLE or getattr(table, "name", None) == TABLE:
                return True
            if part == TABLE:
                return True
    return False


def _diffs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, Base.metadata) if _touches_table(d)]


def _check(url: str, engine: Engine) -> None:
    assert _diffs(engine) == []
    inspector = inspect(engine)
    assert {ix["name"] for ix in inspector.get_indexes(TABLE)} >= {
        "ix_mailbox_data_keys_tenant_id", "ix_mailbox_data_keys_kek_version"}
    uniques = {u["name"] for u in inspector.get_unique_constraints(TABLE)}
    assert "uq_mailbox_data_keys_mailbox_id" in uniques
    downgrade(url, "0001_foundation")
    assert TABLE not in inspect(engine).get_table_names()
    upgrade(url)
    assert TABLE in inspect(engine).get_table_names()


def test_migration_matches_model_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        _check(url, engine)
    finally:
        engine.dispose()


def test_migration_matches_model_postgresql(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        _check(pg_url, engine)
    finally:
        engine.dispose()


def test_diff_detection_works(tmp_path: Path) -> None:
    """Guard against a vacuous comparison: a missing table must show up as a difference."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001_foundation")
    engine = make_engine(url)
    try:
        assert _diffs(engine), "compare_metadata did not notice the missing table"
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", ["revision", "down_revision"])
def test_revision_ids(name: str) -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / \
        "20261122_0002_crypto.py"
    spec = importlib.util.spec_from_file_location("m0002", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert getattr(module, name) == {"revision": "0002_crypto",
                                     "down_revision": "0001_foundation"}[name]
