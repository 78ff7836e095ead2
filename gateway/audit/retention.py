"""`gmail-gateway audit purge`: remove entries older than the retention period (at least one
year, whatever the settings say) and leave a signed anchor so what remains still verifies.

The anchor records, for each shard, the last position removed with a contiguous prefix
(`through_seq`, and the hash there, which the first remaining entry links to) plus the hashes
of removed entries that sat *after* a kept one (`holes`: chain order is commit order, so an
entry that committed late can be older than its predecessor and leave with an earlier month).

On PostgreSQL whole months go by dropping their partition (no table rewrite, no dead rows);
only the month that straddles the cut-off is trimmed with a DELETE, allowed by the trigger
because this transaction sets `gateway.audit_purge`. Entries of deleted accounts are not
special: nothing references them, they leave when they age out.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from gateway.audit.canonical import micros, signed_message
from gateway.audit.errors import RetentionTooShort
from gateway.audit.models import ANCHORS, CHECKPOINTS, ENTRIES, GENESIS_HASH, AuditAnchor
from gateway.audit.operations import Operation
from gateway.audit.partitions import drop_partition, ensure_partitions, monthly_partitions
from gateway.audit.signing import AuditSigner, TrustedKeys
from gateway.kit.timeutil import as_utc, utcnow

MIN_RETENTION_DAYS = 365
_PURGE_LOCK = 0x6761_7564_6974  # pg_advisory_xact_lock key: one purge at a time
_E = ENTRIES
_A = ANCHORS
_C = CHECKPOINTS


class PurgeRefused(Exception):
    """The purge would anchor a chain that is already broken; run `audit verify` first."""


@dataclass
class ShardAnchor:
    through_seq: int = 0
    through_hash: bytes = GENESIS_HASH
    holes: dict[int, bytes] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"through_seq": self.through_seq, "through_hash": self.through_hash.hex(),
                "holes": {str(k): v.hex() for k, v in sorted(self.holes.items())}}


@dataclass
class AnchorState:
    shards: dict[int, ShardAnchor] = field(default_factory=dict)

    def through(self, shard: int) -> int:
        anchor = self.shards.get(shard)
        return anchor.through_seq if anchor else 0

    def through_hash(self, shard: int) -> bytes:
        anchor = self.shards.get(shard)
        return anchor.through_hash if anchor else GENESIS_HASH

    def holes(self, shard: int) -> dict[int, bytes]:
        anchor = self.shards.get(shard)
        return anchor.holes if anchor else {}

    def to_json(self) -> dict[str, Any]:
        return {str(k): v.to_json() for k, v in sorted(self.shards.items())}


def anchor_state(payload: Mapping[str, Any]) -> AnchorState:
    state = AnchorState()
    for key, value in payload.items():
        state.shards[int(key)] = ShardAnchor(
            int(value["through_seq"]), bytes.fromhex(value["through_hash"]),
            {int(k): bytes.fromhex(v) for k, v in dict(value.get("holes", {})).items()})
    return state


def anchor_fields(anchor: AuditAnchor) -> dict[str, Any]:
    return {"id": str(anchor.id), "created_at": micros(anchor.created_at),
            "cutoff": micros(anchor.cutoff), "removed": anchor.removed,
            "shards": anchor.shards, "key_id": anchor.key_id}


@dataclass
class PurgeReport:
    cutoff: datetime
    removed: int = 0
    partitions_dropped: list[str] = field(default_factory=list)
    partitions_created: list[str] = field(default_factory=list)
    anchor_id: str | None = None
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff.isoformat(), "removed": self.removed,
                "partitions_dropped": self.partitions_dropped,
                "partitions_created": self.partitions_created,
                "anchor_id": self.anchor_id, "dry_run": self.dry_run}


def latest_anchor_state(session: Session, trusted: TrustedKeys | None) -> AnchorState:
    anchor = session.scalars(select(AuditAnchor).order_by(AuditAnchor.created_at.desc())
                             .limit(1)).first()
    if anchor is None:
        return AnchorState()
    if trusted is not None and not trusted.verify(
            anchor.key_id, signed_message("anchor", anchor_fields(anchor)), anchor.signature):
        raise PurgeRefused(f"the latest anchor {anchor.id} does not verify; "
                           "refusing to build on it")
    return anchor_state(anchor.shards)


def _next_state(previous: AnchorState, removed: Mapping[int, Mapping[int, bytes]],
                remaining_min: Mapping[int, int]) -> AnchorState:
    state = AnchorState()
    for shard in sorted(set(previous.shards) | set(removed)):
        old = previous.shards.get(shard, ShardAnchor())
        known = {old.through_seq: old.through_hash, **old.holes, **removed.get(shard, {})}
        first_kept = remaining_min.get(shard)
        through = max(known) if first_kept is None else first_kept - 1
        if through < old.through_seq:
            through = old.through_seq
        if through not in known:
            raise PurgeRefused(f"shard {shard}: nothing at seq {through} to anchor to "
                               "(the chain has a gap); run `gmail-gateway audit verify`")
        state.shards[shard] = ShardAnchor(
            through, known[through], {q: h for q, h in known.items() if q > through})
    return state


def purge(session: Session, *, retention_days: int, signer: AuditSigner,
          trusted: TrustedKeys | None = None, now: datetime | None = None,
          dry_run: bool = False) -> PurgeReport:
    """Remove entries older than `retention_days` (≥ 365) and sign an anchor, in the
    caller's transaction (commit it to make the purge happen)."""
    if retention_days < MIN_RETENTION_DAYS:
        raise RetentionTooShort(f"the operation log is kept at least {MIN_RETENTION_DAYS} "
                                f"days; {retention_days} was asked")
    now = as_utc(now or utcnow())
    cutoff = now - timedelta(days=retention_days)
    report = PurgeReport(cutoff=cutoff, dry_run=dry_run)
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PURGE_LOCK})

    removed: dict[int, dict[int, bytes]] = defaultdict(dict)
    count = 0
    for shard, seq, digest in session.execute(
            select(_E.c.shard, _E.c.seq, _E.c.entry_hash).where(_E.c.occurred_at < cutoff)):
        count += 1
        if seq is not None and shard is not None and digest is not None:
            removed[shard][seq] = bytes(digest)
    report.removed = count
    if count and not dry_run:
        remaining_min = {int(s): int(m) for s, m in session.execute(
            select(_E.c.shard, func.min(_E.c.seq))
            .where(_E.c.occurred_at >= cutoff, _E.c.seq.is_not(None))
            .group_by(_E.c.shard))}
        state = _next_state(latest_anchor_state(session, trusted), removed, remaining_min)
        anchor = AuditAnchor(id=uuid.uuid4(), created_at=now, cutoff=cutoff, removed=count,
                             shards=state.to_json(), key_id=signer.key_id, signature=b"")
        signature = signer.sign(signed_message("anchor", anchor_fields(anchor)))
        session.execute(insert(_A).values(
            id=anchor.id, created_at=anchor.created_at, cutoff=cutoff, removed=count,
            shards=anchor.shards, key_id=anchor.key_id, signature=signature))
        report.anchor_id = str(anchor.id)
        _remove(session, cutoff, state, report, postgres=postgres)
    if not dry_run:
        report.partitions_created = ensure_partitions(session, now=now)
        _log_purge(session, report)
    return report


def _remove(session: Session, cutoff: datetime, state: AnchorState, report: PurgeReport, *,
            postgres: bool) -> None:
    for partition in monthly_partitions(session):
        if partition.upper <= cutoff:
            drop_partition(session, partition)
            report.partitions_dropped.append(partition.name)
    if postgres:
        session.execute(text("SET LOCAL gateway.audit_purge = 'on'"))
    session.execute(delete(_E).where(_E.c.occurred_at < cutoff))
    for shard, anchor in state.shards.items():
        session.execute(delete(_C).where(_C.c.shard == shard, _C.c.seq <= anchor.through_seq))
    if postgres:
        session.execute(text("SET LOCAL gateway.audit_purge = 'off'"))


def _log_purge(session: Session, report: PurgeReport) -> None:
    from gateway.audit.writer import log_system_operation

    log_system_operation(
        session, Operation.audit_log_purged, job="retention", purpose="legal",
        action="audit.purge", resource_type="audit_log",
        detail={"cutoff": report.cutoff.isoformat(), "removed": report.removed,
                "anchor_id": report.anchor_id,
                "partitions_dropped": report.partitions_dropped})
