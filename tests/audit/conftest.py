"""Helpers for the operation-log tests: a log that signs checkpoints, records, tampering as a
database administrator would (triggers off), and an app that serves the reviewer API."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

import gateway.app as app_module
from gateway.audit.chain import CheckpointPolicy, ensure_heads
from gateway.audit.router import router as audit_router
from gateway.audit.signing import AuditSigner, TrustedKeys
from gateway.audit.verify import VerifyReport, verify
from gateway.audit.writer import LogRecord, OperationLog
from gateway.kit.db import Database
from gateway.policy.contract import Decision, PolicyEngine
from gateway.settings import Settings


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
        session.execute(text("TRUNCATE audit_chain_heads"))
        ensure_heads(session, 1)


def run_verify(database: Database, trusted: TrustedKeys, **kwargs: Any) -> VerifyReport:
    with database.transaction() as session:
        return verify(session, trusted, **kwargs)


def as_dba(database: Database, sql: str, params: Mapping[str, Any] | None = None) -> int:
    """Run SQL the way a database administrator could: with the append-only trigger off."""
    with database.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        result = conn.execute(text(sql), dict(params or {}))
        return int(result.rowcount)


def rows_by_position(database: Database) -> list[Any]:
    with database.engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT id, shard, seq FROM audit_entries ORDER BY shard, seq")))


class OwnerAccessLogOverlay:
    """The real policy engine, plus the one rule this issue asks the policy set for: an end
    user may query the access log of a mailbox they own (`audit.query`, resource `audit_log`
    carrying the owner). Everything else is the real engine's decision."""

    def __init__(self, inner: PolicyEngine) -> None:
        self.inner = inner
        self.name = f"overlay({inner.name})"

    @property
    def revision(self) -> str:
        return self.inner.revision

    def decide(self, policy_input: Mapping[str, Any]) -> Decision:
        actor = policy_input.get("actor") or {}
        resource = policy_input.get("resource") or {}
        if (policy_input.get("action") == "audit.query" and actor.get("kind") == "end_user"
                and resource.get("type") == "audit_log" and resource.get("owner")
                and resource.get("owner") == actor.get("id")
                and resource.get("tenant") == actor.get("tenant")
                and policy_input.get("purpose") in {"user_rights", "user_facing"}):
            return Decision(True, ("allow_owner_access_log",), self.inner.revision, self.name)
        return self.inner.decide(policy_input)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.inner.close()


def with_audit_router() -> tuple[Any, ...]:
    routers = tuple(app_module.ROUTERS)
    if audit_router not in routers:
        routers = (*routers, audit_router)
    return routers


@pytest.fixture(scope="session")
def audit_app_client(settings: Settings) -> Iterator[TestClient]:
    """The gateway app with the reviewer API mounted (whether or not app.py lists it yet)
    and the real policy engine behind the owner-access-log overlay."""
    engine = OwnerAccessLogOverlay(app_module.build_policy_engine(settings))
    patch = pytest.MonkeyPatch()
    patch.setattr(app_module, "ROUTERS", with_audit_router())
    try:
        app = app_module.create_app(settings, engine=engine)
    finally:
        patch.undo()
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    engine.close()


@pytest.fixture
def audit_client(audit_app_client: TestClient, db: Database) -> TestClient:
    return audit_app_client
