"""Fixtures for the crypto tests: a temp key file, a file-based SQLite database holding only the
crypto table (plus a test-only table of encrypted columns), and, where GATEWAY_TEST_DATABASE_URL
names a PostgreSQL server, a fresh database with every migration applied."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from gateway.crypto import CryptoService, EncryptedColumn, Sealed
from gateway.crypto.keyprovider import LocalFileKeyProvider
from gateway.crypto.models import MailboxDataKey
from gateway.kit.db import make_engine

PG_ENV = "GATEWAY_TEST_DATABASE_URL"


class ScratchBase(DeclarativeBase):
    """Test-only tables, kept out of the app's metadata (and so out of the migrations)."""


class Note(ScratchBase):
    __tablename__ = "crypto_test_notes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    mailbox_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    subject: Mapped[Sealed | None] = mapped_column(EncryptedColumn(), nullable=True)
    body: Mapped[Sealed | None] = mapped_column(EncryptedColumn(), nullable=True)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "kek.json"


@pytest.fixture
def provider(key_file: Path) -> LocalFileKeyProvider:
    return LocalFileKeyProvider(key_file, production=False)


@pytest.fixture
def crypto(provider: LocalFileKeyProvider) -> Iterator[CryptoService]:
    service = CryptoService(provider)
    yield service
    service.close()


def create_schema(engine: Engine) -> None:
    MailboxDataKey.__table__.create(engine, checkfirst=True)
    ScratchBase.metadata.create_all(engine)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'crypto.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(sqlite_engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(sqlite_engine, expire_on_commit=False)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database with all migrations applied (skipped without a server)."""
    admin_url = os.environ.get(PG_ENV)
    if not admin_url:
        pytest.skip(f"{PG_ENV} not set")
    from tests.support.database import migrated_database

    with migrated_database(admin_url, "gw_crypto") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql", "postgresql-binary"])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """SQLite (file) always; PostgreSQL with the real migrations when a server is configured,
    with psycopg's default text result format and with binary results (gateway.crypto.pg)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'any.db'}")
        create_schema(engine)
    else:
        from gateway.crypto.pg import psycopg_binary_results

        url: str = request.getfixturevalue("pg_url")
        kwargs = {"connect_args": psycopg_binary_results()} if "binary" in request.param else {}
        engine = make_engine(url, **kwargs)
        ScratchBase.metadata.create_all(engine)
    yield engine
    engine.dispose()


def ids() -> tuple[str, str]:
    return str(uuid.uuid4()), str(uuid.uuid4())
