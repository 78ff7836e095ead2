"""The migrations are the schema: applied to PostgreSQL they match the models exactly, and they
survive upgrade → downgrade → upgrade."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from gateway.kit.migrate import downgrade, upgrade
from gateway.kit.schema import load_all_models
from tests.support.database import create_database, drop_database


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": False})
            return list(compare_metadata(ctx, load_all_models()))
    finally:
        engine.dispose()


def test_migrations_produce_exactly_the_models_schema(database_url: str) -> None:
    assert _diff(database_url) == []


def test_upgrade_downgrade_upgrade_round_trip(pg_admin_url: str) -> None:
    url = create_database(pg_admin_url, "gw_migrations")
    try:
        upgrade(url)
        engine = create_engine(url)
        tables = set(inspect(engine).get_table_names())
        assert {"tenants", "principals", "api_keys", "mailboxes", "audit_entries"} <= tables
        downgrade(url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(url)
        assert set(inspect(engine).get_table_names()) == tables
        engine.dispose()
        assert _diff(url) == []
    finally:
        drop_database(pg_admin_url, url)


def test_migrations_also_run_on_sqlite(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(url)
    engine = create_engine(url)
    assert "audit_entries" in inspect(engine).get_table_names()
    engine.dispose()


def test_the_released_history_is_linear() -> None:
    """Features may branch off one revision while they are developed side by side, but what
    is released has one head, so `alembic downgrade -1` and upgrade order mean one thing."""
    from alembic.script import ScriptDirectory

    from gateway.kit.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}; give them one order"
