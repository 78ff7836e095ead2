"""What the review console shows besides the search: one entry with its chain position, the
verification of that entry's chain segment, and the justifications' form.

The entry's checks run the log's own verifier (`gateway.audit.verify.verify`) over the entry's
chain and time window: its hash recomputed from the stored fields, its link to its predecessor,
the checkpoints of its chain. Chains are shared by tenants; another tenant's entry is never
named (its id is withheld, as `GET /v1/audit/verify` withholds it)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.audit.canonical import ONE_MICROSECOND
from gateway.audit.models import AuditCheckpoint, AuditEntry
from gateway.audit.schemas import AuditEntryOut, CheckpointOut
from gateway.audit.signing import TrustedKeys
from gateway.audit.verify import verify
from gateway.justifications.schemas import CASE_REF_PATTERN, JustificationCreate
from gateway.kit.errors import NotFound, ValidationFailed
from gateway.kit.ids import uuid_or_none
from gateway.pages.forms import errors_of, place_errors, split_ids, validated, whole_number


def entry_in_tenant(session: Session, tenant_id: uuid.UUID, raw_id: str) -> AuditEntry:
    """An entry of the caller's tenant; another tenant's id is an unknown one."""
    entry_id = uuid_or_none(raw_id)
    entry = (session.scalars(select(AuditEntry).where(AuditEntry.id == entry_id,
                                                      AuditEntry.tenant_id == tenant_id))
             .first() if entry_id is not None else None)
    if entry is None:
        raise NotFound("no such log entry", code="audit_entry_not_found")
    return entry


@dataclass(frozen=True)
class ChainPosition:
    """Where an entry sits: its chain (shard), position (seq) and hashes, and the first signed
    checkpoint at or after it (None: in its chain's unsigned tail, or not yet chained)."""

    shard: int | None
    seq: int | None
    prev_hash: str | None
    entry_hash: str | None
    checkpoint: CheckpointOut | None

    @property
    def chained(self) -> bool:
        return self.seq is not None


def chain_position(session: Session, entry: AuditEntry) -> ChainPosition:
    checkpoint = None
    if entry.shard is not None and entry.seq is not None:
        found = session.scalars(select(AuditCheckpoint).where(
            AuditCheckpoint.shard == entry.shard, AuditCheckpoint.seq >= entry.seq)
            .order_by(AuditCheckpoint.seq).limit(1)).first()
        checkpoint = CheckpointOut.of(found) if found is not None else None
    return ChainPosition(shard=entry.shard, seq=entry.seq,
                         prev_hash=entry.prev_hash.hex() if entry.prev_hash else None,
                         entry_hash=entry.entry_hash.hex() if entry.entry_hash else None,
                         checkpoint=checkpoint)


@dataclass(frozen=True)
class EntryCheck:
    """The verifier's findings on one entry's chain segment.

    `state`: `intact` (hash and link verified, no problem in the segment), `problem` (the
    verifier names this entry), `segment_problem` (another entry of the segment is wrong),
    `unchained` (not yet given a position)."""

    state: str
    entries_checked: int
    checkpoints_checked: int
    problems: list[dict[str, Any]] = field(default_factory=list)


def check_entry(session: Session, trusted: TrustedKeys, entry: AuditEntry) -> EntryCheck:
    if entry.shard is None or entry.seq is None:
        return EntryCheck("unchained", 0, 0)
    report = verify(session, trusted, since=entry.occurred_at,
                    until=entry.occurred_at + ONE_MICROSECOND, shards=[entry.shard],
                    include_unchained=False)
    named = {p.entry_id: _canonical(p.entry_id) for p in report.problems if p.entry_id}
    in_tenant = _ids_in_tenant(session, entry.tenant_id, [i for i in named.values() if i])

    def shown(raw: str | None) -> str | None:
        canonical = named.get(raw) if raw else None
        return canonical if canonical in in_tenant else None

    problems = [{"shard": p.shard, "seq": p.seq, "kind": p.kind, "detail": p.detail,
                 "entry_id": shown(p.entry_id)} for p in report.problems]
    if any((p.shard, p.seq) == (entry.shard, entry.seq)
           or (p.entry_id and named.get(p.entry_id) == str(entry.id))
           for p in report.problems):
        state = "problem"
    else:
        state = "segment_problem" if problems else "intact"
    return EntryCheck(state, report.entries, report.checkpoints, problems)


def _canonical(raw: str) -> str | None:
    """An entry id as the API spells it (the verifier reads SQLite's stored hex form)."""
    found = uuid_or_none(raw)
    return str(found) if found is not None else None


def _ids_in_tenant(session: Session, tenant_id: uuid.UUID | None,
                   ids: list[str]) -> set[str]:
    wanted = [u for u in (uuid_or_none(i) for i in ids) if u is not None]
    if not wanted or tenant_id is None:
        return set()
    return {str(i) for i in session.scalars(select(AuditEntry.id).where(
        AuditEntry.id.in_(wanted), AuditEntry.tenant_id == tenant_id))}


def entry_out(entry: AuditEntry) -> AuditEntryOut:
    """A reviewer's view of an entry: every field, terminal included."""
    return AuditEntryOut.of(entry)


@dataclass
class JustificationForm:
    """The record form: what was typed and each field's problem."""

    kind: str = "security"
    case_ref: str = ""
    reason: str = ""
    operator_id: str = ""
    operator_group: str = ""
    message_ids: str = ""
    thread_ids: str = ""
    expires_in_minutes: str = "1440"
    errors: dict[str, str] = field(default_factory=dict)

    FIELDS = ("kind", "case_ref", "reason", "operator_id", "operator_group", "message_ids",
              "thread_ids", "expires_in_minutes")

    @classmethod
    def of(cls, data: Mapping[str, Any], kind: str) -> JustificationForm:
        def text(name: str) -> str:
            return str(data.get(name) or "").strip()

        return cls(kind=kind, case_ref=text("case_ref"), reason=text("reason"),
                   operator_id=text("operator_id"), operator_group=text("operator_group"),
                   message_ids=text("message_ids"), thread_ids=text("thread_ids"),
                   expires_in_minutes=text("expires_in_minutes") or "1440")

    def body(self) -> JustificationCreate:
        """The API's `JustificationCreate`, or its 422."""
        body: dict[str, Any] = {
            "kind": self.kind, "case_ref": self.case_ref, "reason": self.reason,
            "message_ids": split_ids(self.message_ids), "thread_ids": split_ids(self.thread_ids),
            "expires_in_minutes": whole_number(self.expires_in_minutes, "expires_in_minutes")}
        if self.operator_id:
            body["operator_id"] = self.operator_id
        if self.operator_group:
            body["operator_group"] = self.operator_group
        return validated(JustificationCreate, body)

    def with_errors(self, exc: ValidationFailed) -> JustificationForm:
        self.errors = place_errors(errors_of(exc), self.FIELDS)
        return self


CASE_REF_HTML_PATTERN = CASE_REF_PATTERN.removeprefix("^").removesuffix("$")
