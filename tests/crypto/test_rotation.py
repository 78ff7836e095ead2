"""KEK rotation while traffic continues: readers (cache off, so every read unwraps from the
database) and writers keep working, nothing is lost, and the old version can then be retired.
Runs on file-based SQLite, and on PostgreSQL (real migrations) when GATEWAY_TEST_DATABASE_URL
is set."""

from __future__ import annotations

import random
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.crypto import Binding, CryptoService, KeyInUse, Sealed
from gateway.crypto.keyprovider import KekState, LocalFileKeyProvider
from gateway.crypto.models import MailboxDataKey

MAILBOXES = 40
PER_MAILBOX = 3


def seed(crypto: CryptoService, sessions: sessionmaker[Session],
         n: int = MAILBOXES) -> list[tuple[Binding, Sealed, bytes]]:
    items = []
    tenant = str(uuid.uuid4())
    with sessions() as s, s.begin():
        for _ in range(n):
            mailbox = str(uuid.uuid4())
            for j in range(PER_MAILBOX):
                binding = Binding(tenant, mailbox, "messages", "body", f"row-{j}")
                plaintext = f"{mailbox}/{j}".encode()
                items.append((binding, crypto.seal(s, binding, plaintext), plaintext))
    return items


def test_rotation_under_concurrent_reads_and_writes(any_engine: Engine, key_file: Path) -> None:
    sessions = sessionmaker(any_engine, expire_on_commit=False)
    writer_crypto = CryptoService(LocalFileKeyProvider(key_file, production=False))
    items = seed(writer_crypto, sessions)
    rotator = CryptoService(LocalFileKeyProvider(key_file, production=False))
    stop = threading.Event()
    errors: list[BaseException] = []
    reads = [0]
    written: list[tuple[Binding, Sealed, bytes]] = []
    lock = threading.Lock()

    def reader() -> None:
        crypto = CryptoService(LocalFileKeyProvider(key_file, production=False),
                               cache_entries=0)
        rng = random.Random()
        while not stop.is_set():
            binding, sealed, plaintext = rng.choice(items)
            try:
                with sessions() as s:
                    assert crypto._open(s, binding, sealed) == plaintext
                with lock:
                    reads[0] += 1
            except BaseException as exc:
                errors.append(exc)
                return

    def writer() -> None:
        crypto = CryptoService(LocalFileKeyProvider(key_file, production=False))
        while not stop.is_set():
            try:
                written.extend(seed(crypto, sessions, n=1))
            except BaseException as exc:
                errors.append(exc)
                return
            time.sleep(0.005)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    time.sleep(0.1)
    reads_before, written_before = reads[0], len(written)
    report = rotator.rotate(sessions, batch_size=7)
    reads_during, written_during = reads[0] - reads_before, len(written) - written_before
    time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()

    assert errors == []
    assert reads_during > 0 and written_during > 0, (reads_during, written_during)
    assert report.new_version == 2 and report.failed == [] and report.remaining == 0
    assert report.rewrapped >= MAILBOXES
    with sessions() as s:
        per_version = s.execute(select(MailboxDataKey.kek_version, func.count())
                                .group_by(MailboxDataKey.kek_version)).all()
        assert {v for v, _ in per_version} == {2}
        usage = {u.version: (u.state, u.data_keys) for u in rotator.kek_versions(s)}
        assert usage[1] == (KekState.active, 0)
    with sessions() as s, s.begin():
        rotator.retire(s, 1)
    fresh = CryptoService(LocalFileKeyProvider(key_file, production=False), cache_entries=0)
    with sessions() as s:
        for binding, sealed, plaintext in items + written:
            assert fresh._open(s, binding, sealed) == plaintext


def test_retire_refused_while_in_use(sessions: sessionmaker[Session], key_file: Path) -> None:
    crypto = CryptoService(LocalFileKeyProvider(key_file, production=False))
    items = seed(crypto, sessions, n=3)
    crypto.provider.add_version()
    with sessions() as s:
        with pytest.raises(KeyInUse, match="still wraps 3"):
            crypto.retire(s, 1)
        with pytest.raises(KeyInUse, match="primary"):
            crypto.retire(s, 2)
    report = crypto.resume_rotation(sessions)
    assert (report.new_version, report.rewrapped, report.remaining) == (2, 3, 0)
    with sessions() as s, s.begin():
        crypto.retire(s, 1)
    crypto.cache.clear()
    with sessions() as s:
        for binding, sealed, plaintext in items:
            assert crypto._open(s, binding, sealed) == plaintext


def test_rotation_reports_rows_it_cannot_rewrap(sessions: sessionmaker[Session],
                                                key_file: Path) -> None:
    crypto = CryptoService(LocalFileKeyProvider(key_file, production=False))
    seed(crypto, sessions, n=2)
    with sessions() as s, s.begin():
        row = s.execute(select(MailboxDataKey).limit(1)).scalar_one()
        assert row.wrapped_key is not None
        row.wrapped_key = row.wrapped_key[:-1] + bytes([row.wrapped_key[-1] ^ 1])
        bad = str(row.id)
    report = crypto.rotate(sessions)
    assert report.failed == [bad] and report.remaining == 1 and report.rewrapped == 1


def test_rotation_stops_when_the_provider_is_down(sessions: sessionmaker[Session],
                                                  key_file: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.crypto import KeyUnavailable

    crypto = CryptoService(LocalFileKeyProvider(key_file, production=False))
    items = seed(crypto, sessions, n=2)

    def down(*_: object) -> None:
        raise KeyUnavailable("provider down")

    monkeypatch.setattr(crypto.provider, "rewrap", down)
    with pytest.raises(KeyUnavailable):
        crypto.rotate(sessions)
    monkeypatch.undo()
    report = crypto.resume_rotation(sessions)
    assert (report.new_version, report.rewrapped, report.remaining) == (2, 2, 0)
    with sessions() as s:
        for binding, sealed, plaintext in items:
            assert crypto._open(s, binding, sealed) == plaintext
