"""PostgreSQL: fetch results in binary format so encrypted (bytea) columns cost no more than text.

With psycopg's default text format the server renders `bytea` as hex (twice the bytes on the
wire) and the client decodes it again: for a 50 KB sealed body that is ~200 us more than fetching
the same size of `text`, several times the cost of the decryption itself. In binary format a
`bytea` arrives as raw bytes. Opt in when building the engine:

    create_engine(url, connect_args=psycopg_binary_results())

psycopg returns the same Python types in both formats; the crypto test suite and (measured once)
the rest of the suite run with it. **Not for the migration engine**: SQLAlchemy's PostgreSQL
reflection (`pg_catalog` queries, used by Alembic autogenerate / `compare_metadata`) expects text
results and fails with `TypeError: a bytes-like object is required` in binary mode. Use it for
the app's request engine only.
"""

from __future__ import annotations

from typing import Any

from gateway.kit.db import Database
from gateway.kit.schema import load_all_models
from gateway.settings import Settings


def psycopg_binary_results() -> dict[str, Any]:
    """`connect_args` making every (client-side) psycopg cursor fetch in binary format."""
    import psycopg
    from psycopg import pq

    class BinaryResultsCursor(psycopg.Cursor[Any]):
        def __init__(self, connection: Any, **kwargs: Any) -> None:
            super().__init__(connection, **kwargs)
            self.format = pq.Format.BINARY

    return {"cursor_factory": BinaryResultsCursor}


def build_database(settings: Settings) -> Database:
    """The request engine. On PostgreSQL it fetches results in binary format, so a sealed bytea
    column arrives as raw bytes instead of hex text (the decoding otherwise costs more than the
    decryption: docs/encryption.md). Migrations and schema reflection keep the text format.
    Every model is imported first, so the mappers configure in any process that builds it (a
    worker or a command imports only its own domain's models)."""
    load_all_models()
    if settings.database_url.startswith("postgresql+psycopg"):
        return Database.from_url(settings.database_url, connect_args=psycopg_binary_results())
    return Database.from_url(settings.database_url)
