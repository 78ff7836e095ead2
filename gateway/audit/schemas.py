"""What the reviewer API returns, and the flat shapes of the JSON Lines and CSV exports."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from gateway.audit.canonical import micros
from gateway.audit.models import AuditCheckpoint, AuditEntry
from gateway.kit.timeutil import as_utc

# Fields that describe the terminal and connection of whoever acted: shown to reviewers,
# withheld from an end user reading their own mailbox's access log.
TERMINAL_FIELDS = ("connection_id", "client_ip", "user_agent", "device_id")


class AuditEntryOut(BaseModel):
    id: uuid.UUID
    occurred_at: datetime = Field(description="date and time of the operation (UTC)")
    operation: str = Field(description="nature of the operation (typed name)")
    action: str
    decision: str = Field(description="allow, deny or error")
    reasons: list[str]
    policy_revision: str
    purpose: str
    actor_kind: str
    actor_id: str = Field(description="identifier of the author of the operation")
    connection_id: str | None = Field(description="API key prefix, session or job")
    client_ip: str | None
    user_agent: str | None
    device_id: str | None
    protocol: str = Field(description="protocol the caller used")
    upstream_protocol: str | None = Field(description="protocol used towards Google, if any")
    request_id: str
    tenant_id: uuid.UUID | None
    mailbox_id: uuid.UUID | None
    resource_type: str | None
    resource_ids: list[str] = Field(description="ids of the content concerned, never content")
    detail: dict[str, Any]
    shard: int | None
    seq: int | None
    prev_hash: str | None = Field(description="hex; the predecessor's entry_hash")
    entry_hash: str | None

    @classmethod
    def of(cls, entry: AuditEntry, *, redact_terminal: bool = False) -> AuditEntryOut:
        out = cls(
            id=entry.id, occurred_at=as_utc(entry.occurred_at), operation=entry.operation,
            action=entry.action, decision=entry.decision, reasons=list(entry.reasons or []),
            policy_revision=entry.policy_revision, purpose=entry.purpose,
            actor_kind=entry.actor_kind, actor_id=entry.actor_id,
            connection_id=entry.connection_id, client_ip=entry.client_ip,
            user_agent=entry.user_agent, device_id=entry.device_id, protocol=entry.protocol,
            upstream_protocol=entry.upstream_protocol, request_id=entry.request_id,
            tenant_id=entry.tenant_id, mailbox_id=entry.mailbox_id,
            resource_type=entry.resource_type, resource_ids=list(entry.resource_ids or []),
            detail=dict(entry.detail or {}), shard=entry.shard, seq=entry.seq,
            prev_hash=entry.prev_hash.hex() if entry.prev_hash else None,
            entry_hash=entry.entry_hash.hex() if entry.entry_hash else None)
        if redact_terminal:
            out = out.model_copy(update={**dict.fromkeys(TERMINAL_FIELDS), "detail": {}})
        return out


class CheckpointOut(BaseModel):
    """A signed checkpoint, as `tools/verify_log.py` reads it (docs/audit.md §3)."""

    shard: int
    seq: int
    entry_hash: str = Field(description="hex")
    signed_at: datetime
    signed_at_us: int = Field(description="signed_at in integer microseconds (the signed form)")
    key_id: str
    signature: str = Field(description="hex, Ed25519")

    @classmethod
    def of(cls, cp: AuditCheckpoint) -> CheckpointOut:
        return cls(shard=cp.shard, seq=cp.seq, entry_hash=cp.entry_hash.hex(),
                   signed_at=as_utc(cp.signed_at), signed_at_us=micros(cp.signed_at),
                   key_id=cp.key_id, signature=cp.signature.hex())


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page")


class ProblemOut(BaseModel):
    shard: int
    seq: int
    kind: str
    entry_id: str | None
    detail: str


class CheckpointRequestOut(BaseModel):
    signed: int = Field(description="chain heads signed by this request")


class UnsignedTailOut(BaseModel):
    """Entries after their chain's last signed checkpoint: rewritable without the key until
    the next checkpoint (bounded by `audit_checkpoint_every` / `audit_checkpoint_seconds`)."""

    entries: int
    chains: int
    oldest_at: datetime | None
    age_seconds: float


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    shards: int
    checkpoints: int
    anchors: int
    unsigned_entries: dict[str, int]
    unsigned_tail: UnsignedTailOut
    since: datetime | None
    until: datetime | None
    seconds: float
    first_problem: ProblemOut | None
    problems: list[ProblemOut]


CSV_COLUMNS = tuple(AuditEntryOut.model_fields)
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    elif isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = str(value)
    # Spreadsheets execute cells that start like a formula; reviewers open these files.
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def jsonl_lines(entries: Iterable[BaseModel]) -> Iterator[bytes]:
    for entry in entries:
        yield (entry.model_dump_json() + "\n").encode()


def csv_lines(entries: Iterable[AuditEntryOut]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        data = entry.model_dump()
        writer.writerow([_csv_cell(data[c]) for c in CSV_COLUMNS])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
