"""Encryption cost: AES-256-GCM throughput, and the message read path with vs without decryption.

    .venv/bin/python bench/crypto_bench.py [--database-url URL] [--seconds S]

1. Throughput of CryptoService.seal / _open (the decryption under both opening paths; data key
   cached, as on the hot path) for 1 KB, 50 KB and 5 MB payloads, in ops/s and MB/s.
2. The read path of one 50 KB message as a request would run it: open a session, fetch the row
   by primary key through the ORM, produce the body text, JSON-serialise the response. Once from
   a plaintext column, once from an EncryptedColumn plus that decryption, interleaved in the same
   process against the same database (SQLite file by default; PostgreSQL with --database-url or
   GATEWAY_BENCH_DATABASE_URL). Reports medians and the ratio (target <= 1.10).

Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from gateway.crypto import Binding, CryptoService, EncryptedColumn, Sealed
from gateway.crypto.keyprovider import LocalFileKeyProvider
from gateway.crypto.models import MailboxDataKey
from gateway.crypto.pg import psycopg_binary_results
from gateway.kit.db import make_engine

WORDS = ["meeting", "quarterly", "offer", "contract", "invoice", "please", "review", "attached",
         "thanks", "regards", "schedule", "project", "update", "customer", "pricing", "renewal"]


class BenchBase(DeclarativeBase):
    pass


class PlainMessage(BenchBase):
    __tablename__ = "bench_plain_messages"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    body: Mapped[str] = mapped_column(Text)


class SealedMessage(BenchBase):
    __tablename__ = "bench_sealed_messages"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    body: Mapped[Sealed] = mapped_column(EncryptedColumn())


def text_of(size: int, rng: random.Random) -> str:
    out: list[str] = []
    n = 0
    while n < size:
        word = rng.choice(WORDS)
        out.append(word)
        n += len(word) + 1
    return " ".join(out)[:size]


def rate(fn: Callable[[], object], seconds: float) -> tuple[int, float]:
    fn()
    n = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        n += 1
    return n, elapsed


def throughput(crypto: CryptoService, sessions: sessionmaker[Session], seconds: float) -> None:
    tenant, mailbox = str(uuid.uuid4()), str(uuid.uuid4())
    binding = Binding(tenant, mailbox, "messages", "body", "bench")
    print("\n== AES-256-GCM through CryptoService (data key cached) ==")
    print(f"{'size':>8} {'op':>5} {'ops/s':>12} {'MB/s':>10}")
    with sessions() as s, s.begin():
        crypto.seal(s, binding, b"warm-up")  # create the data key
    for label, size in (("1 KB", 1024), ("50 KB", 50 * 1024), ("5 MB", 5 * 1024 * 1024)):
        payload = os.urandom(size)
        with sessions() as s:
            sealed = crypto.seal(s, binding, payload)
            ops: tuple[tuple[str, Callable[[], object]], ...] = (
                ("seal", lambda s=s, p=payload: crypto.seal(s, binding, p)),
                ("open", lambda s=s, c=sealed: crypto._open(s, binding, c)))
            for op, fn in ops:
                n, elapsed = rate(fn, seconds)
                mbps = n * size / elapsed / 1e6
                print(f"{label:>8} {op:>5} {n / elapsed:>12,.0f} {mbps:>10,.0f}")


def read_path(crypto: CryptoService, sessions: sessionmaker[Session], rounds: int) -> None:
    rng = random.Random(7)
    tenant, mailbox = str(uuid.uuid4()), str(uuid.uuid4())
    ids = [uuid.uuid4() for _ in range(100)]
    with sessions() as s, s.begin():
        for message_id in ids:
            body = text_of(50 * 1024, rng)
            s.add(PlainMessage(id=message_id, body=body))
            binding = Binding(tenant, mailbox, SealedMessage.__tablename__, "body",
                              str(message_id))
            s.add(SealedMessage(id=message_id, body=crypto.seal_text(s, binding, body)))

    def plain(message_id: uuid.UUID) -> str:
        with sessions() as s:
            row = s.get_one(PlainMessage, message_id)
            return json.dumps({"id": str(row.id), "body": row.body})

    def decrypted(message_id: uuid.UUID) -> str:
        with sessions() as s:
            row = s.get_one(SealedMessage, message_id)
            binding = Binding(tenant, mailbox, SealedMessage.__tablename__, "body",
                              str(row.id))
            body = crypto._open(s, binding, row.body).decode()
            return json.dumps({"id": str(row.id), "body": body})

    assert plain(ids[0]) == decrypted(ids[0])
    t_plain: list[float] = []
    t_dec: list[float] = []
    for i in range(rounds):
        message_id = ids[i % len(ids)]
        order = (plain, decrypted) if i % 2 else (decrypted, plain)
        for fn in order:
            start = time.perf_counter()
            fn(message_id)
            (t_plain if fn is plain else t_dec).append(time.perf_counter() - start)
    mp, md = statistics.median(t_plain), statistics.median(t_dec)
    print("\n== read path: fetch one 50 KB message + JSON response ==")
    print(f"without decryption: median {mp * 1e6:8.1f} us")
    print(f"with decryption:    median {md * 1e6:8.1f} us")
    print(f"ratio (with/without): {md / mp:.3f}   (target <= 1.10)")
    print(f"decryption cost per read: {(md - mp) * 1e6:.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("GATEWAY_BENCH_DATABASE_URL"))
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="time per throughput measurement")
    parser.add_argument("--rounds", type=int, default=3000, help="read-path iterations")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        crypto = CryptoService(LocalFileKeyProvider(Path(tmp) / "keys" / "kek.json",
                                                    production=False))
        variants: list[tuple[str, dict[str, object]]] = [("default", {})]
        if url.startswith("postgresql"):
            variants.append(("binary result format", {"connect_args": psycopg_binary_results()}))
        for index, (label, kwargs) in enumerate(variants):
            engine = make_engine(url, **kwargs)  # type: ignore[arg-type]
            MailboxDataKey.__table__.create(engine, checkfirst=True)
            BenchBase.metadata.drop_all(engine)
            BenchBase.metadata.create_all(engine)
            sessions = sessionmaker(engine, expire_on_commit=False)
            print(f"\ndatabase: {engine.url.render_as_string(hide_password=True)} ({label})")
            try:
                if index == 0:
                    throughput(crypto, sessions, args.seconds)
                read_path(crypto, sessions, args.rounds)
            finally:
                BenchBase.metadata.drop_all(engine)
                engine.dispose()


if __name__ == "__main__":
    main()
