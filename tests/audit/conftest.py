"""Helpers for the operation-log tests: a log that signs checkpoints, records, tampering as a
database administrator would (triggers off), and an app that serves the reviewer API."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gateway.audit.chain import CheckpointPolicy, ensure_heads
from gateway.audit.signing import AuditSigner, TrustedKeys
from gateway.audit.verify import VerifyReport, verify
from gateway.audit.writer import LogRecord, OperationLog
from gateway.kit.db import Database


@pytest.fixture
def signer() -> AuditSigner:
    return AuditSigner.generate()


@pytest.fixture
def trusted(signer: AuditSigner) -> TrustedKeys:
    return TrustedKeys([signer.private_key.public_key()])


@pytest.fixture
def oplog(signer: AuditSigner) -> OperationLog:
    """Signs a checkpoint every 3 entries per chain; may back-date (retention tests)."""
    return OperationLog(checkpoints=CheckpointPolicy(signer, every=3, seconds=3600),
                        max_clock_skew=timedelta(days=3650))


def make_record(**overrides: Any) -> LogRecord:
    values: dict[str, Any] = {
        "request_id": f"req-{uuid.uuid4().hex[:12]}", "actor_kind": "end_user",
        "actor_id": str(uuid.uuid4()), "connection_id": "api_key:gw_test1",
        "protocol": "https/rest 1.1", "operation": "mail:message:read_content",
        "action": "mail.message.read_content", "purpose": "user_facing", "decision": "allow",
        "reasons": ("allow_owner",), "policy_revision": "rev-test",
        "tenant_id": uuid.uuid4(), "mailbox_id": uuid.uuid4(), "client_ip": "127.0.0.1",
        "user_agent": "pytest", "resource_type": "message", "resource_ids": ("m-1",),
    }
    values.update(overrides)
    return LogRecord(**values)


RecordFactory = Callable[..., LogRecord]


@pytest.fixture
def record() -> RecordFactory:
    return make_record


def append_each(database: Database, log: OperationLog, records: list[LogRecord]) -> None:
    """One transaction per record, as requests do."""
    for rec in records:
        with database.transaction() as session:
            log.append(session, rec)


def single_chain(database: Database) -> None:
    """Make chain 0 the only chain, so positions in a test are predictable."""
    with database.transaction() as session:
        session.execute(text("DELETE FROM audit_chain_heads"))
        ensure_heads(session, 1)


def run_verify(database: Database, trusted: TrustedKeys, **kwargs: Any) -> VerifyReport:
    with database.transaction() as session:
        return verify(session, trusted, **kwargs)


def as_dba(database: Database, sql: str, params: Mapping[str, Any] | None = None) -> int:
    """Run SQL the way a database administrator could: with PostgreSQL's append-only trigger
    off (SQLite has none)."""
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        result = conn.execute(text(sql), dict(params or {}))
        return int(result.rowcount)


def rows_by_position(database: Database) -> list[Any]:
    with database.engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT id, shard, seq FROM audit_entries ORDER BY shard, seq")))


@pytest.fixture
def audit_client(client: TestClient) -> TestClient:
    """The gateway app (reviewer API mounted, real policy engine over a real OPA server)."""
    return client
