"""CryptoService end to end on SQLite: sealing, moved/tampered ciphertext, the column type,
the key cache, and crypto-shredding proven against a dump taken before deletion."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from gateway.crypto import (
    Binding,
    CryptoError,
    CryptoService,
    DecryptionFailed,
    KeyDestroyed,
    PlaintextRefused,
    Sealed,
)
from gateway.crypto.keyprovider import KeyContext, LocalFileKeyProvider, WrappedKey
from gateway.crypto.models import MailboxDataKey
from gateway.crypto.sealed import mint
from tests.crypto.conftest import Note, ids


def b(tenant: str, mailbox: str, table: str = "messages", column: str = "body",
      row: str = "row-1") -> Binding:
    return Binding(tenant, mailbox, table, column, row)


def test_round_trip_and_first_use_creates_one_key(crypto: CryptoService,
                                                  sessions: sessionmaker[Session]) -> None:
    tenant, mailbox = ids()
    with sessions() as s, s.begin():
        sealed = crypto.seal(s, b(tenant, mailbox), b"hello")
        assert isinstance(sealed, Sealed)
        assert crypto._open(s, b(tenant, mailbox), sealed) == b"hello"
        text_sealed = crypto.seal_text(s, b(tenant, mailbox, column="subject"), "Grüße")
        opened = crypto._open(s, b(tenant, mailbox, column="subject"), text_sealed)
        assert opened.decode() == "Grüße"
    with sessions() as s:
        rows = s.execute(select(MailboxDataKey)).scalars().all()
        assert len(rows) == 1
        assert rows[0].version == 1 and rows[0].kek_version == 1
        assert rows[0].wrapped_key is not None and rows[0].destroyed_at is None


def test_service_never_commits(crypto: CryptoService, sessions: sessionmaker[Session]) -> None:
    tenant, mailbox = ids()
    with sessions() as s:
        crypto.seal(s, b(tenant, mailbox), b"x")
        s.rollback()
    crypto.cache.clear()
    with sessions() as s:
        assert s.execute(select(MailboxDataKey)).first() is None


@pytest.mark.parametrize("moved", ["row", "column", "table", "mailbox", "tenant"])
def test_moved_ciphertext_fails(crypto: CryptoService, sessions: sessionmaker[Session],
                                moved: str) -> None:
    tenant, mailbox = ids()
    other_tenant, other_mailbox = ids()
    origin = b(tenant, mailbox)
    with sessions() as s, s.begin():
        sealed = crypto.seal(s, origin, b"confidential")
        # The other mailbox has a key of its own, so failure is not just "no key found".
        crypto.seal(s, b(tenant, other_mailbox), b"x")
        crypto.seal(s, b(other_tenant, str(uuid.uuid4())), b"x")
    target = {
        "row": b(tenant, mailbox, row="row-2"),
        "column": b(tenant, mailbox, column="subject"),
        "table": b(tenant, mailbox, table="drafts"),
        "mailbox": b(tenant, other_mailbox),
        "tenant": b(other_tenant, mailbox),
    }[moved]
    with sessions() as s, pytest.raises(CryptoError):
        crypto._open(s, target, sealed)
    with sessions() as s:
        assert crypto._open(s, origin, sealed) == b"confidential"


def test_moved_to_other_mailbox_fails_with_cold_cache(crypto: CryptoService,
                                                      sessions: sessionmaker[Session]) -> None:
    tenant, mailbox = ids()
    _, other = ids()
    with sessions() as s, s.begin():
        sealed = crypto.seal(s, b(tenant, mailbox), b"secret")
        crypto.seal(s, b(tenant, other), b"x")
    crypto.cache.clear()
    with sessions() as s, pytest.raises(DecryptionFailed):
        crypto._open(s, b(tenant, other), sealed)


def test_tampered_ciphertext_fails(crypto: CryptoService, sessions: sessionmaker[Session]) -> None:
    tenant, mailbox = ids()
    with sessions() as s, s.begin():
        sealed = crypto.seal(s, b(tenant, mailbox), b"payload" * 10)
    blob = sealed.blob
    for i in (0, 3, 10, 20, len(blob) // 2, len(blob) - 1):
        tampered = bytearray(blob)
        tampered[i] ^= 0x80
        with sessions() as s, pytest.raises(CryptoError):
            crypto._open(s, b(tenant, mailbox), mint(bytes(tampered)))


def test_sealed_cannot_be_built_by_hand() -> None:
    with pytest.raises(TypeError):
        Sealed(b"\x01" + b"\x00" * 40, _mint=object())
    with pytest.raises(DecryptionFailed):
        mint(b"plaintext that is not a record")


def test_column_type_refuses_plaintext(crypto: CryptoService,
                                       sessions: sessionmaker[Session]) -> None:
    tenant, mailbox = ids()
    for value in ("Quarterly numbers", b"Quarterly numbers", bytearray(b"x"), 42):
        with sessions() as s:
            s.add(Note(tenant_id=uuid.UUID(tenant), mailbox_id=uuid.UUID(mailbox),
                       subject=value))
            with pytest.raises(StatementError) as info:
                s.flush()
            assert isinstance(info.value.orig, PlaintextRefused)
    with sessions() as s, pytest.raises(StatementError) as info:
        s.execute(select(Note).where(Note.subject == "Quarterly numbers")).all()  # type: ignore[arg-type]
    assert isinstance(info.value.orig, PlaintextRefused)
    with sessions() as s, pytest.raises(StatementError) as info:
        s.execute(update(Note).values(body=b"raw"))
    assert isinstance(info.value.orig, PlaintextRefused)


def test_column_round_trip_and_no_plaintext_on_disk(crypto: CryptoService,
                                                    sessions: sessionmaker[Session],
                                                    sqlite_engine: Engine) -> None:
    tenant, mailbox = ids()
    subject, body = "Project Nightingale offer", "The price is 1,234,567 EUR. " * 50
    note_id = uuid.uuid4()
    with sessions() as s, s.begin():
        s.add(Note(id=note_id, tenant_id=uuid.UUID(tenant), mailbox_id=uuid.UUID(mailbox),
                   subject=crypto.seal_text(s, b(tenant, mailbox, "crypto_test_notes",
                                                 "subject", str(note_id)), subject),
                   body=crypto.seal_text(s, b(tenant, mailbox, "crypto_test_notes", "body",
                                              str(note_id)), body)))
    with sessions() as s:
        note = s.get_one(Note, note_id)
        assert isinstance(note.subject, Sealed)
        assert note.body is not None and note.subject is not None
        got = crypto._open(s, b(tenant, mailbox, "crypto_test_notes", "subject",
                                str(note_id)), note.subject).decode()
        assert got == subject
        # Swapping the two columns' ciphertexts in place must not decrypt.
        with pytest.raises(DecryptionFailed):
            crypto._open(s, b(tenant, mailbox, "crypto_test_notes", "subject",
                              str(note_id)), note.body)
    with sqlite_engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
    raw = Path(sqlite_engine.url.database or "").read_bytes()
    for needle in (subject, "1,234,567", "Nightingale"):
        assert needle.encode() not in raw


def test_cache_avoids_unwrapping_per_read(provider: LocalFileKeyProvider,
                                          sessions: sessionmaker[Session]) -> None:
    calls = {"unwrap": 0}
    original = provider.unwrap

    def counting(context: KeyContext, wrapped: WrappedKey) -> bytes:
        calls["unwrap"] += 1
        return original(context, wrapped)

    provider.unwrap = counting  # type: ignore[method-assign]
    crypto = CryptoService(provider)
    tenant, mailbox = ids()
    with sessions() as s, s.begin():
        sealed = crypto.seal(s, b(tenant, mailbox), b"x")
    assert calls["unwrap"] == 0  # the creator already knows the key it just wrapped
    crypto.cache.clear()
    with sessions() as s:
        for _ in range(100):
            assert crypto._open(s, b(tenant, mailbox), sealed) == b"x"
    assert calls["unwrap"] == 1


def test_cache_is_bounded_and_expires(provider: LocalFileKeyProvider,
                                      sessions: sessionmaker[Session]) -> None:
    crypto = CryptoService(provider, cache_entries=5)
    with sessions() as s, s.begin():
        for _ in range(20):
            tenant, mailbox = ids()
            crypto.seal(s, b(tenant, mailbox), b"x")
    assert len(crypto.cache) <= 5

    now = [0.0]
    from gateway.crypto.cache import KeyCache

    cache: KeyCache[int] = KeyCache(max_entries=3, ttl_seconds=10, clock=lambda: now[0])
    for i in range(4):
        cache.put(("t", "m", i), i)
    assert len(cache) == 3 and cache.get(("t", "m", 0)) is None
    assert cache.get(("t", "m", 3)) == 3
    now[0] = 11.0
    assert cache.get(("t", "m", 3)) is None
    cache.put(("t", "m", 1), 1)
    cache.put(("t", "x", 1), 1)
    assert cache.discard_prefix("t", "m") >= 1
    assert cache.get(("t", "m", 1)) is None and cache.get(("t", "x", 1)) == 1


def _dump(engine: Engine) -> list[dict[str, Any]]:
    """Every key row, typed, as a backup would hold it."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(MailboxDataKey.__table__))]


@pytest.mark.clause("pp.deletion", "pp.encryption")
def test_shredded_mailbox_dump_is_unreadable(key_file: Path, sqlite_engine: Engine,
                                             sessions: sessionmaker[Session]) -> None:
    crypto = CryptoService(LocalFileKeyProvider(key_file, production=False))
    tenant, mailbox = ids()
    _, survivor = ids()
    with sessions() as s, s.begin():
        sealed = crypto.seal(s, b(tenant, mailbox), b"erase me")
        kept = crypto.seal(s, b(tenant, survivor), b"keep me")
    dump = _dump(sqlite_engine)  # a backup taken before the deletion
    key_files_before = {p.name: p.read_bytes()
                        for p in key_file.parent.rglob("*") if p.is_file()}
    assert any(row["wrapped_key"] for row in dump)

    with sessions() as s, s.begin():
        crypto.destroy_mailbox(s, tenant, mailbox)

    # 1. Through the service, even with the key previously cached.
    with sessions() as s:
        with pytest.raises(KeyDestroyed):
            crypto._open(s, b(tenant, mailbox), sealed)
        with pytest.raises(KeyDestroyed):
            crypto.seal(s, b(tenant, mailbox), b"new data")
        assert crypto._open(s, b(tenant, survivor), kept) == b"keep me"

    # 2. From the dump: restore the old rows into a fresh database, use a fresh service with the
    #    still-existing KEK, and try to read the old ciphertext.
    from gateway.kit.db import make_engine
    from tests.crypto.conftest import create_schema

    restored = make_engine(f"sqlite:///{key_file.parent.parent / 'restored.db'}")
    create_schema(restored)
    with restored.begin() as conn:
        conn.execute(MailboxDataKey.__table__.insert(), dump)
    fresh = CryptoService(LocalFileKeyProvider(key_file, production=False))
    with sessionmaker(restored)() as s:
        with pytest.raises(KeyDestroyed):
            fresh._open(s, b(tenant, mailbox), sealed)
        assert fresh._open(s, b(tenant, survivor), kept) == b"keep me"

    # 3. Directly at the provider, bypassing the service: the KEK still opens the outer layer,
    #    but the mailbox key the inner layer needs is gone.
    row = next(r for r in dump if str(r["mailbox_id"]) == mailbox)
    context = KeyContext(tenant, mailbox, row["version"])
    wrapped = WrappedKey(row["kek_version"], row["wrapped_key"])
    with pytest.raises(KeyDestroyed):
        LocalFileKeyProvider(key_file, production=False).unwrap(context, wrapped)
    key_files_after = {p.name: p.read_bytes() for p in key_file.parent.rglob("*") if p.is_file()}
    gone = set(key_files_before) - set(key_files_after)
    assert any(mailbox in name for name in gone)
    restored.dispose()


def test_destroy_is_idempotent_and_blocks_unkeyed_mailboxes(
        crypto: CryptoService, sessions: sessionmaker[Session]) -> None:
    tenant, mailbox = ids()
    with sessions() as s, s.begin():
        crypto.destroy_mailbox(s, tenant, mailbox)  # never had a key
        crypto.destroy_mailbox(s, tenant, mailbox)
    with sessions() as s, pytest.raises(KeyDestroyed):
        crypto.seal(s, b(tenant, mailbox), b"x")


def test_mailbox_of_another_tenant_refused(crypto: CryptoService,
                                           sessions: sessionmaker[Session]) -> None:
    tenant, mailbox = ids()
    other_tenant, _ = ids()
    with sessions() as s, s.begin():
        crypto.seal(s, b(tenant, mailbox), b"x")
    crypto.cache.clear()
    with sessions() as s:
        with pytest.raises(CryptoError, match="another tenant"):
            crypto.seal(s, b(other_tenant, mailbox), b"x")
        with pytest.raises(CryptoError, match="another tenant"):
            crypto.destroy_mailbox(s, other_tenant, mailbox)


def test_type_errors(crypto: CryptoService, sessions: sessionmaker[Session]) -> None:
    tenant, mailbox = ids()
    with sessions() as s:
        with pytest.raises(TypeError):
            crypto.seal(s, b(tenant, mailbox), "str is not bytes")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            crypto._open(s, b(tenant, mailbox), b"raw")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            crypto.seal_text(s, b(tenant, mailbox), b"bytes")  # type: ignore[arg-type]


def test_ping(crypto: CryptoService, key_file: Path) -> None:
    crypto.ping()
    key_file.unlink()
    from gateway.crypto import KeyUnavailable

    with pytest.raises(KeyUnavailable) as info:
        crypto.ping()
    assert info.value.status == 503
