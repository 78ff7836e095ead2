"""Appends operation-log entries. A write that fails raises `OperationLogUnavailable`, which the
enforcement point turns into a refusal (fail closed).

`append` inserts the entry in the caller's transaction and registers it for commit-time
chaining (`gateway.audit.chain`). Background work logs through `log_system_operation`, as the
`system` actor.
"""

from __future__ import annotations

import functools
import os
import socket
import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import JSON, Engine, Insert, Text, bindparam, cast, insert
from sqlalchemy.orm import Session, configure_mappers

from gateway.audit import chain, group_commit, pg_fastpath
from gateway.audit.canonical import content_bytes, json_text, normalise_detail
from gateway.audit.errors import OperationLogUnavailable
from gateway.audit.models import ENTRIES, AuditEntry
from gateway.audit.operations import Operation, is_operation_name
from gateway.kit.timeutil import as_utc, utcnow
from gateway.settings import Settings

__all__ = ["LogRecord", "OperationLog", "OperationLogUnavailable", "log_system_operation"]

DECISIONS = frozenset({"allow", "deny", "error"})
SYSTEM_ACTOR_KIND = "system"
_ENTRIES = ENTRIES
JSON_COLUMNS = ("resource_ids", "reasons", "detail")


@functools.cache  # a memo of one constant statement per dialect, not a service
def _insert_entry(dialect: str) -> Insert:
    """INSERT with the JSON columns bound as their canonical text, stored verbatim (the hash
    covers that text; SQLAlchemy's own JSON serialisation is not canonical)."""
    def json_param(name: str) -> Any:
        param = bindparam(name, type_=Text)
        return cast(param, JSON) if dialect == "postgresql" else param

    return insert(_ENTRIES).values(
        **{c.name: bindparam(c.name) for c in _ENTRIES.columns
           if c.name not in JSON_COLUMNS and c.name not in {"shard", "seq", "prev_hash",
                                                             "entry_hash"}},
        **{name: json_param(name) for name in JSON_COLUMNS})
_MAX_RESOURCE_IDS = 500
# Keys that would mean content (or a secret) is about to be logged. The log keeps ids only.
FORBIDDEN_DETAIL_KEYS = frozenset({
    "body", "html", "text", "raw", "content", "subject", "snippet", "headers", "attachment",
    "attachments", "token", "access_token", "refresh_token", "id_token", "password", "secret",
    "api_key", "authorization", "cookie",
})
# Column lengths (characters); longer values are cut rather than failing the write.
_LIMITS = {"request_id": 64, "actor_kind": 32, "actor_id": 64, "connection_id": 128,
           "client_ip": 64, "user_agent": 256, "device_id": 128, "protocol": 64,
           "upstream_protocol": 64, "action": 64, "purpose": 64, "resource_type": 32,
           "policy_revision": 80}
_REQUIRED = ("request_id", "actor_kind", "actor_id", "connection_id", "protocol", "action",
             "purpose", "policy_revision")


@dataclass(frozen=True)
class LogRecord:
    """What the enforcement point knows about one access. Never content."""

    request_id: str
    actor_kind: str
    actor_id: str
    connection_id: str
    protocol: str
    operation: str
    action: str
    purpose: str
    decision: str
    reasons: tuple[str, ...]
    policy_revision: str
    tenant_id: uuid.UUID | None = None
    mailbox_id: uuid.UUID | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    device_id: str | None = None
    resource_type: str | None = None
    resource_ids: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=utcnow)
    upstream_protocol: str | None = None


def _clean(value: str | None, limit: int) -> str | None:
    """NUL and lone surrogates (which PostgreSQL text cannot hold, and which JSON parsers
    refuse) become U+FFFD, so a client's odd header cannot make the log unwritable; a
    group-committed batch would otherwise fail for every caller in it."""
    if value is None:
        return None
    value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    return value[:limit]


def _check_detail(detail: Mapping[str, Any], path: str = "detail") -> None:
    for key, value in detail.items():
        if str(key).lower() in FORBIDDEN_DETAIL_KEYS:
            raise ValueError(f"{path}.{key}: the operation log never holds content or secrets")
        if isinstance(value, Mapping):
            _check_detail(value, f"{path}.{key}")


class OperationLog:
    """Writes entries; optionally signs checkpoints inline when a chain is due.

    `OperationLog()` chains every entry; `OperationLog.from_settings(settings)` also signs a
    checkpoint every `audit_checkpoint_every` entries or `audit_checkpoint_seconds` seconds
    per chain (idle chains are signed by `gmail-gateway audit checkpoint`).
    """

    def __init__(self, *, checkpoints: chain.CheckpointPolicy | None = None,
                 max_clock_skew: timedelta = timedelta(hours=24)) -> None:
        self.checkpoints = checkpoints
        self.max_clock_skew = max_clock_skew

    @classmethod
    def from_settings(cls, settings: Settings) -> OperationLog:
        from gateway.audit.signing import load_signer

        return cls(checkpoints=chain.CheckpointPolicy(
            load_signer(settings), every=settings.audit_checkpoint_every,
            seconds=settings.audit_checkpoint_seconds))

    def values(self, record: LogRecord) -> dict[str, Any]:
        """The row to insert, validated and normalised exactly as it will be read back."""
        if not is_operation_name(record.operation):
            raise ValueError(f"not a typed operation name: {record.operation[:80]!r}")
        if record.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {sorted(DECISIONS)}")
        occurred_at = as_utc(record.occurred_at)
        if abs(utcnow() - occurred_at) > self.max_clock_skew:
            raise ValueError("occurred_at is too far from now; the log is not back-dated")
        if len(record.resource_ids) > _MAX_RESOURCE_IDS:
            raise ValueError(f"at most {_MAX_RESOURCE_IDS} resource ids per entry")
        _check_detail(record.detail)
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "occurred_at": occurred_at,
            "tenant_id": record.tenant_id,
            "mailbox_id": record.mailbox_id,
            "operation": record.operation,
            "decision": record.decision,
            "resource_ids": [str(_clean(str(r), 256)) for r in record.resource_ids],
            "reasons": [str(_clean(str(r), 128)) for r in record.reasons],
            "detail": normalise_detail(record.detail),
        }
        for name, limit in _LIMITS.items():
            values[name] = _clean(getattr(record, name), limit)
        for name in _REQUIRED:
            if not values[name]:
                raise ValueError(f"{name} is required in an operation-log entry")
        return values

    def append(self, session: Session, record: LogRecord) -> AuditEntry:
        """Insert the entry in `session`'s transaction; it is chained when that commits.

        Returns a snapshot of what was written (not attached to the session; its chain
        position is assigned at commit)."""
        values = self.values(record)
        params = dict(values)
        for name in JSON_COLUMNS:
            params[name] = json_text(values[name])
        try:
            connection = session.connection()
            dialect = connection.dialect
            if pg_fastpath.supported(dialect.name, dialect.driver):
                pg_fastpath.insert(connection.connection.dbapi_connection, params)
            else:
                connection.execute(_insert_entry(dialect.name), params)
        except Exception as exc:  # SQLAlchemy's or psycopg's error: nothing was written
            raise OperationLogUnavailable("the operation log could not be written") from exc
        # The JSON columns are hashed as the text just stored (`params`), not re-encoded.
        chain.register(session, chain.PendingLink(values["id"], values["occurred_at"],
                                                  content_bytes(params)), self.checkpoints)
        return _snapshot(values)

    def append_committed(self, database: _HasEngine, record: LogRecord) -> AuditEntry:
        """Write the entry in a transaction of its own and return once it is committed (a
        denial, an upstream-effect allow, a refusal: what a request's rollback must not erase).

        On PostgreSQL through psycopg, concurrent callers in this process are committed
        together (`gateway.audit.group_commit`: one round trip per batch, each caller waits
        for its own entry); elsewhere it is `append` in `database.independent_session()`.
        Raises `OperationLogUnavailable` when nothing was committed."""
        engine = database.engine
        dialect = engine.dialect
        if not pg_fastpath.supported(dialect.name, dialect.driver):
            with database.independent_session() as own:
                return self.append(own, record)
        values = self.values(record)
        params = dict(values)
        for name in JSON_COLUMNS:
            params[name] = json_text(values[name])
        shard, seq = group_commit.for_engine(engine).append(
            params, content_bytes(params), self.checkpoints)
        return _snapshot(values, shard=shard, seq=seq)


class _HasEngine(Protocol):
    """What `append_committed` needs of `gateway.kit.db.Database`."""

    engine: Engine

    def independent_session(self) -> AbstractContextManager[Session]: ...


_MAPPERS_CONFIGURED = False  # the ORM's own one-time set-up, idempotent: not a service


def _configure_mappers_once() -> None:
    """What the ORM constructor would do first. `configure_mappers()` is a no-op once done,
    but still walks every registry (~10 us per entry): once per process is enough."""
    global _MAPPERS_CONFIGURED
    configure_mappers()
    _MAPPERS_CONFIGURED = True


def _snapshot(values: dict[str, Any], shard: int | None = None,
              seq: int | None = None) -> AuditEntry:
    """A detached AuditEntry holding `values`, built the way the ORM loads rows (no attribute
    events: nothing about it is pending in any session)."""
    if not _MAPPERS_CONFIGURED:
        _configure_mappers_once()
    entry: AuditEntry = AuditEntry.__mapper__.class_manager.new_instance()
    entry.__dict__.update(values, shard=shard, seq=seq, prev_hash=None, entry_hash=None)
    return entry


# The writer for a caller given no log: it chains but holds no signer (no resource to close).
# A runtime's `oplog` (gateway/runtime) also signs checkpoints.
_DEFAULT_LOG = OperationLog()


def system_connection_id(job: str) -> str:
    return f"job:{job}@{socket.gethostname()}:{os.getpid()}"


def log_system_operation(
    session: Session,
    operation: Operation | str,
    *,
    job: str,
    purpose: str,
    tenant_id: uuid.UUID | None = None,
    mailbox_id: uuid.UUID | None = None,
    resource_type: str | None = None,
    resource_ids: tuple[str, ...] = (),
    protocol: str = "internal",
    upstream_protocol: str | None = None,
    decision: str = "allow",
    reasons: tuple[str, ...] = ("system_operation",),
    policy_revision: str = "system",
    action: str | None = None,
    request_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
    oplog: OperationLog | None = None,
) -> AuditEntry:
    """Log background work (sync, retention, key rotation...) as the `system` actor.

    `job` names the worker (`sync-worker`, `retention`, `key-rotation`): the author id is
    `system:<job>`, the connection id names the job, host and process, the terminal is the
    host. `upstream_protocol` says how Google was reached (`gmail-api/v1 https`,
    `pubsub-push https`) when it was."""
    op = str(operation)
    host = socket.gethostname()
    record = LogRecord(
        request_id=request_id or f"job-{uuid.uuid4().hex}",
        actor_kind=SYSTEM_ACTOR_KIND, actor_id=f"system:{job}",
        connection_id=system_connection_id(job), protocol=protocol, operation=op,
        action=action or op.replace(":", "."), purpose=purpose, decision=decision,
        reasons=reasons, policy_revision=policy_revision, tenant_id=tenant_id,
        mailbox_id=mailbox_id, device_id=host, user_agent=f"gmail-gateway/{job}",
        resource_type=resource_type, resource_ids=resource_ids, detail=dict(detail or {}),
        upstream_protocol=upstream_protocol,
    )
    return (oplog or _DEFAULT_LOG).append(session, record)
