"""The operation-log bench's world: tenants, mailboxes and actors, and N entries seeded by
COPY, chained across the shards with signed checkpoints (bench/audit_bench.py, step 1).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import create_engine, make_url, text

from gateway.audit.canonical import (
    content_bytes_from_row,
    json_text,
    link_hash,
    signed_message,
)
from gateway.audit.chain import checkpoint_fields
from gateway.audit.models import GENESIS_HASH
from gateway.audit.partitions import add_months, ensure_partitions, month_start
from gateway.audit.signing import AuditSigner, TrustedKeys
from gateway.kit.db import Database
from gateway.kit.migrate import upgrade

SHARDS = 8
TENANTS = 20
MAILBOXES_PER_TENANT = 100
USERS_PER_TENANT = 250
CHECKPOINT_EVERY = 1000
COLUMNS = ("id", "occurred_at", "shard", "seq", "prev_hash", "entry_hash", "request_id",
           "tenant_id", "mailbox_id", "actor_kind", "actor_id", "connection_id", "client_ip",
           "user_agent", "device_id", "protocol", "upstream_protocol", "operation", "action",
           "purpose", "resource_type", "resource_ids", "decision", "reasons",
           "policy_revision", "detail")
ACTIONS = [("mail.message.read_content", "message"), ("mail.message.list", "mailbox"),
           ("mail.message.read_metadata", "message"), ("mail.message.send", "message"),
           ("mail.search", "mailbox"), ("mail.thread.read_content", "thread")]


def world(seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    tenants = []
    for _ in range(TENANTS):
        tenants.append({
            "id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "mailboxes": [uuid.UUID(int=rng.getrandbits(128), version=4)
                          for _ in range(MAILBOXES_PER_TENANT)],
            "users": [str(uuid.UUID(int=rng.getrandbits(128), version=4))
                      for _ in range(USERS_PER_TENANT)],
            "crm": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        })
    return {"tenants": tenants}


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class LogDatabase:
    """A scratch database holding a seeded, verifiable operation log."""

    url: str
    database: Database
    signer: AuditSigner
    trusted: TrustedKeys


@contextmanager
def seeded_log_database(prefix: str, entries: int, *, keep: bool) -> Iterator[LogDatabase]:
    """A new database on GATEWAY_TEST_DATABASE_URL's server, migrated, with partitions for the
    past year and `entries` chained log entries signed by a fresh checkpoint key; dropped at the
    end unless `keep`."""
    admin = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    if not admin:
        raise SystemExit("set GATEWAY_TEST_DATABASE_URL "
                         "(source scripts/lib.sh && ensure_postgres_running)")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    print(f"database {name}; {os.cpu_count()} CPU(s); PostgreSQL "
          f"{psycopg.connect(libpq_url(admin)).info.server_version}")
    try:
        upgrade(url)
        database = Database.from_url(url)
        with database.transaction() as session:
            ensure_partitions(session, start=add_months(month_start(datetime.now(UTC)), -13))
        signer = AuditSigner.generate()
        seed(url, entries, signer.private_key.private_bytes_raw())
        try:
            yield LogDatabase(url, database, signer,
                              TrustedKeys([signer.private_key.public_key()]))
        finally:
            database.dispose()
    finally:
        if not keep:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


# --- seeding ------------------------------------------------------------------------------------

def seed_shards(url: str, shards: list[int], per_shard: int, now_us: int,
                key: bytes) -> tuple[int, list[tuple[int, int, bytes]]]:
    """Generate and COPY `per_shard` chained entries for each shard; returns the heads."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signer = AuditSigner(Ed25519PrivateKey.from_private_bytes(key))
    data = world()
    rng = random.Random(1000 + shards[0])
    year_us = 365 * 86400 * 1_000_000
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    heads = []
    copied = 0
    with psycopg.connect(libpq_url(url)) as conn:
        for shard in shards:
            times = sorted(now_us - rng.randrange(year_us) for _ in range(per_shard))
            prev = GENESIS_HASH
            checkpoints = []
            with conn.cursor().copy(f"COPY audit_entries ({', '.join(COLUMNS)}) "
                                    "FROM STDIN") as copy:
                for seq, at_us in enumerate(times, start=1):
                    tenant = data["tenants"][rng.randrange(TENANTS)]
                    mailbox = tenant["mailboxes"][rng.randrange(MAILBOXES_PER_TENANT)]
                    busy = rng.random() < 0.5
                    actor_kind = "crm_service" if busy else "end_user"
                    actor = tenant["crm"] if busy else tenant["users"][
                        rng.randrange(USERS_PER_TENANT)]
                    action, rtype = ACTIONS[rng.randrange(len(ACTIONS))]
                    allow = rng.random() < 0.97
                    occurred = epoch + timedelta(microseconds=at_us)
                    row = {
                        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                        "occurred_at": occurred,
                        "request_id": f"req-{rng.getrandbits(48):012x}",
                        "tenant_id": tenant["id"], "mailbox_id": mailbox,
                        "actor_kind": actor_kind, "actor_id": actor,
                        "connection_id": f"api_key:gw_{actor[:8]}",
                        "client_ip": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
                        "user_agent": "crm-backend/4.2 (python-httpx)", "device_id": None,
                        "protocol": "https/rest 1.1", "upstream_protocol": None,
                        "operation": action.replace(".", ":"), "action": action,
                        "purpose": "user_facing", "resource_type": rtype,
                        "resource_ids": [f"{rng.getrandbits(64):016x}"],
                        "decision": "allow" if allow else "deny",
                        "reasons": ["allow_owner"] if allow else ["scope_not_granted"],
                        "policy_revision": "bench-rev-1", "detail": {},
                    }
                    content = content_bytes_from_row([row[c] for c in (
                        "id", "occurred_at", "request_id", "tenant_id", "mailbox_id",
                        "actor_kind", "actor_id", "connection_id", "client_ip", "user_agent",
                        "device_id", "protocol", "upstream_protocol", "operation", "action",
                        "purpose", "resource_type", "resource_ids", "decision", "reasons",
                        "policy_revision", "detail")])
                    digest = link_hash(prev, seq, shard, content)
                    copy.write_row((
                        row["id"], occurred, shard, seq, prev, digest, row["request_id"],
                        row["tenant_id"], row["mailbox_id"], actor_kind, actor,
                        row["connection_id"], row["client_ip"], row["user_agent"], None,
                        row["protocol"], None, row["operation"], action, row["purpose"],
                        rtype, json_text(row["resource_ids"]), row["decision"],
                        json_text(row["reasons"]), row["policy_revision"], "{}"))
                    prev = digest
                    copied += 1
                    if seq % CHECKPOINT_EVERY == 0 or seq == per_shard:
                        checkpoints.append((seq, digest, occurred))
            with conn.cursor() as cur:
                for seq, digest, occurred in checkpoints:
                    signed_at = occurred + timedelta(seconds=1)
                    message = signed_message("checkpoint", checkpoint_fields(
                        shard, seq, digest, signed_at, signer.key_id))
                    cur.execute(
                        "INSERT INTO audit_checkpoints (id, shard, seq, entry_hash, signed_at, "
                        "key_id, signature) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        (uuid.uuid4(), shard, seq, digest, signed_at, signer.key_id,
                         signer.sign(message)))
                last = checkpoints[-1]
                cur.execute("UPDATE audit_chain_heads SET seq = %s, entry_hash = %s, "
                            "checkpoint_seq = %s, checkpointed_at = %s WHERE shard = %s",
                            (per_shard, prev, last[0], last[2], shard))
            conn.commit()
            heads.append((shard, per_shard, prev))
    return copied, heads


def seed(url: str, entries: int, signer_key: bytes) -> float:
    started = time.perf_counter()
    now_us = (datetime.now(UTC) - timedelta(minutes=5) - datetime(1970, 1, 1, tzinfo=UTC)
              ) // timedelta(microseconds=1)
    groups = [list(range(SHARDS))[i::2] for i in range(2)]
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(seed_shards, [(url, g, entries // SHARDS, now_us, signer_key)
                                             for g in groups])
    total = sum(r[0] for r in results)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("ANALYZE audit_entries")
    elapsed = time.perf_counter() - started
    print(f"seeded {total:,} chained entries in {elapsed:.1f}s "
          f"({total / elapsed:,.0f}/s, COPY, 2 processes)")
    return elapsed
