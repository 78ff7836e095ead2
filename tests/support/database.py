"""Test databases: a fresh one with every migration applied (for tests and benchmarks), emptied
between tests, and a table's rows as stored."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, make_url, text

from gateway.kit.db import Database
from gateway.kit.migrate import upgrade
from gateway.kit.schema import load_all_models

PG_ENV = "GATEWAY_TEST_DATABASE_URL"


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


def empty_tables(database: Database) -> None:
    tables = load_all_models().sorted_tables
    with database.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for table in reversed(tables):  # children first: foreign keys are enforced
                conn.execute(table.delete())
            return
        names = ", ".join(f'"{t.name}"' for t in tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


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
