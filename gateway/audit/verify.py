"""`gmail-gateway audit verify`: recompute every chain, check every signature, name the first
bad entry.

What is checked, per shard (chain):
- each entry's hash is recomputed from its stored fields, position and predecessor hash
  (an edited row, or two rows whose contents or positions were swapped, fails here);
- positions run without gaps from the purge anchor to the head, each entry's `prev_hash`
  equals its predecessor's hash (a deleted row leaves a gap; an inserted one a duplicate or a
  broken link; rows purged out of order are listed in the signed anchor);
- no committed entry is left unchained (rows inserted behind the writer's back are);
- every checkpoint and anchor carries a valid Ed25519 signature from a trusted key, and each
  checkpoint's hash is the hash at its position (a chain recomputed by someone without the
  key diverges from the last checkpoint);
- the head (where the next entry links) is the last entry (a truncated tail shows here).

Rows are read in storage order (no index on the chain position: chaining stays a HOT update)
into per-shard arrays, then links are checked in position order. With `since`/`until`,
only the chain segments holding entries of that window are checked.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, cast, func, or_, select, tuple_
from sqlalchemy.orm import Session

from gateway.audit.canonical import (
    CONTENT_COLUMNS,
    content_bytes_from_row,
    link_hash,
    signed_message,
)
from gateway.audit.chain import checkpoint_fields
from gateway.audit.models import (
    ENTRIES,
    HASH_BYTES,
    AuditAnchor,
    AuditChainHead,
    AuditCheckpoint,
)
from gateway.audit.retention import AnchorState, anchor_fields, anchor_state
from gateway.audit.signing import TrustedKeys
from gateway.kit.timeutil import as_utc

_E = ENTRIES
WINDOW_MARGIN = timedelta(hours=1)
MAX_PROBLEMS = 100
_SCAN_BATCH = 5000
_AS_TEXT = frozenset({"id", "tenant_id", "mailbox_id", "resource_ids", "reasons", "detail"})


@dataclass(frozen=True, order=True)
class Problem:
    shard: int
    seq: int
    kind: str
    entry_id: str | None = None
    detail: str = ""


@dataclass
class VerifyReport:
    ok: bool = True
    entries: int = 0
    shards: int = 0
    checkpoints: int = 0
    anchors: int = 0
    unsigned: dict[int, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    seconds: float = 0.0

    @property
    def first(self) -> Problem | None:
        return min(self.problems) if self.problems else None

    @property
    def rate(self) -> float:
        return self.entries / self.seconds if self.seconds > 0 else 0.0

    def add(self, problem: Problem) -> None:
        self.ok = False
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def merge(self, other: VerifyReport) -> None:
        self.ok = self.ok and other.ok
        self.entries += other.entries
        self.shards += other.shards
        self.checkpoints += other.checkpoints
        self.anchors = max(self.anchors, other.anchors)  # every job reads every anchor
        self.unsigned.update(other.unsigned)
        self.problems = sorted(set(self.problems) | set(other.problems))[:MAX_PROBLEMS]

    def to_dict(self) -> dict[str, Any]:
        first = self.first
        return {
            "ok": self.ok, "entries": self.entries, "shards": self.shards,
            "checkpoints": self.checkpoints, "anchors": self.anchors,
            "unsigned_entries": {str(k): v for k, v in sorted(self.unsigned.items())},
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "seconds": round(self.seconds, 3), "entries_per_second": round(self.rate),
            "first_problem": asdict(first) if first else None,
            "problems": [asdict(p) for p in sorted(self.problems)],
        }


@dataclass
class _Chain:
    """One shard's positions lo..hi, as arrays indexed by seq - lo."""

    shard: int
    lo: int
    hi: int
    entry_hash: bytearray = field(init=False)
    prev_hash: bytearray = field(init=False)
    present: bytearray = field(init=False)

    def __post_init__(self) -> None:
        size = max(self.hi - self.lo + 1, 0)
        self.entry_hash = bytearray(HASH_BYTES * size)
        self.prev_hash = bytearray(HASH_BYTES * size)
        self.present = bytearray(size)

    def hash_at(self, seq: int) -> bytes:
        i = (seq - self.lo) * HASH_BYTES
        return bytes(self.entry_hash[i:i + HASH_BYTES])

    def prev_at(self, seq: int) -> bytes:
        i = (seq - self.lo) * HASH_BYTES
        return bytes(self.prev_hash[i:i + HASH_BYTES])

    def has(self, seq: int) -> bool:
        return self.lo <= seq <= self.hi and self.present[seq - self.lo] == 1


def _verify_signatures(session: Session, trusted: TrustedKeys, shards: set[int],
                       report: VerifyReport) -> tuple[AnchorState, dict[int, dict[int, bytes]]]:
    base = AnchorState()
    anchors = session.scalars(select(AuditAnchor).order_by(AuditAnchor.created_at)).all()
    for anchor in anchors:
        report.anchors += 1
        message = signed_message("anchor", anchor_fields(anchor))
        if not trusted.verify(anchor.key_id, message, anchor.signature):
            report.add(Problem(-1, -1, "anchor_signature_invalid", str(anchor.id),
                               f"anchor of {as_utc(anchor.created_at).isoformat()} "
                               f"(key {anchor.key_id}) does not verify"))
            continue
        base = anchor_state(anchor.shards)
    checkpoints: dict[int, dict[int, bytes]] = {s: {} for s in shards}
    rows = session.scalars(select(AuditCheckpoint)
                           .where(AuditCheckpoint.shard.in_(sorted(shards)))).all()
    for cp in rows:
        report.checkpoints += 1
        message = signed_message("checkpoint", checkpoint_fields(
            cp.shard, cp.seq, cp.entry_hash, cp.signed_at, cp.key_id))
        if not trusted.verify(cp.key_id, message, cp.signature):
            report.add(Problem(cp.shard, cp.seq, "checkpoint_signature_invalid", None,
                               f"checkpoint {cp.id} (key {cp.key_id}) does not verify"))
            continue
        checkpoints[cp.shard][cp.seq] = cp.entry_hash
    return base, checkpoints


def verify(session: Session, trusted: TrustedKeys, *, since: datetime | None = None,
           until: datetime | None = None, shards: Iterable[int] | None = None,
           include_unchained: bool = True) -> VerifyReport:
    """Verify the chains of `shards` (default: all) over the whole log or a time window."""
    started = time.perf_counter()
    report = VerifyReport(since=since, until=until)
    heads = {row.shard: row for row in session.scalars(select(AuditChainHead))}
    wanted = set(heads) if shards is None else set(shards) & set(heads)
    report.shards = len(wanted)
    base, checkpoints = _verify_signatures(session, trusted, wanted, report)
    windowed = since is not None or until is not None

    chains: dict[int, _Chain] = {}
    if windowed:
        ranges = _window_ranges(session, wanted, since, until)
        for shard, (lo, hi) in ranges.items():
            floor = base.through(shard) + 1
            chains[shard] = _Chain(shard, max(lo - 1, floor), hi)
    else:
        for shard in wanted:
            chains[shard] = _Chain(shard, base.through(shard) + 1, heads[shard].seq)

    report.entries = _scan(session, chains, base, report, since=since, until=until,
                           windowed=windowed, include_unchained=include_unchained)
    for shard, chain in sorted(chains.items()):
        _check_links(chain, base, report, windowed=windowed)
        _check_checkpoints(chain, checkpoints.get(shard, {}), report, heads[shard].seq,
                           windowed=windowed)
        if not windowed:
            _check_head(chain, base, heads[shard], report)
        signed = max([base.through(shard), *checkpoints.get(shard, {}).keys()])
        report.unsigned[shard] = max(heads[shard].seq - signed, 0)
    _resolve_ids(session, report)
    report.problems.sort()
    report.seconds = time.perf_counter() - started
    return report


def _window_ranges(session: Session, shards: set[int], since: datetime | None,
                   until: datetime | None) -> dict[int, tuple[int, int]]:
    conditions: list[ColumnElement[bool]] = [_E.c.shard.in_(sorted(shards)),
                                             _E.c.seq.is_not(None)]
    if since is not None:
        conditions.append(_E.c.occurred_at >= since)
    if until is not None:
        conditions.append(_E.c.occurred_at < until)
    rows = session.execute(select(_E.c.shard, func.min(_E.c.seq), func.max(_E.c.seq))
                           .where(*conditions).group_by(_E.c.shard)).all()
    return {int(r[0]): (int(r[1]), int(r[2])) for r in rows}


def _scan(session: Session, chains: dict[int, _Chain], base: AnchorState,
          report: VerifyReport, *, since: datetime | None, until: datetime | None,
          windowed: bool, include_unchained: bool) -> int:
    shard_filter: ColumnElement[bool] = _E.c.shard.in_(sorted(chains))
    if include_unchained:
        shard_filter = or_(shard_filter, _E.c.seq.is_(None))
    conditions: list[ColumnElement[bool]] = [shard_filter]
    if since is not None:
        conditions.append(_E.c.occurred_at >= since - WINDOW_MARGIN)
    if until is not None:
        conditions.append(_E.c.occurred_at < until + WINDOW_MARGIN)
    # UUIDs and JSON as their stored text: cheaper to read, and hashed exactly as stored.
    columns = [_E.c.shard, _E.c.seq, _E.c.prev_hash, _E.c.entry_hash,
               *[cast(_E.c[name], Text) if name in _AS_TEXT else _E.c[name]
                 for name in CONTENT_COLUMNS]]
    query = select(*columns).where(and_(*conditions))
    connection = session.connection().execution_options(stream_results=True,
                                                         yield_per=_SCAN_BATCH)
    count = 0
    for row in connection.execute(query):
        shard, seq, prev, stored = row[0], row[1], row[2], row[3]
        content_row = row[4:]
        entry_id = content_row[0]
        if seq is None or shard is None or prev is None or stored is None:
            report.add(Problem(shard if shard is not None else -1, -1, "unchained", str(entry_id),
                               "committed without a chain position (written around the log)"))
            continue
        chain = chains.get(shard)
        if chain is None:
            continue
        if not chain.lo <= seq <= chain.hi:
            if not windowed:
                kind = "below_anchor" if seq <= base.through(shard) else "beyond_head"
                report.add(Problem(shard, seq, kind, str(entry_id),
                                   "an entry outside the chain's signed range (inserted)"))
            continue
        count += 1
        prev, stored = bytes(prev), bytes(stored)
        if link_hash(prev, seq, shard, content_bytes_from_row(content_row)) != stored:
            report.add(Problem(shard, seq, "altered", str(entry_id),
                               "the stored fields do not hash to the stored entry hash"))
        i = seq - chain.lo
        if chain.present[i]:
            report.add(Problem(shard, seq, "duplicate", str(entry_id),
                               "two entries claim this position (one was inserted)"))
            continue
        chain.present[i] = 1
        chain.entry_hash[i * HASH_BYTES:(i + 1) * HASH_BYTES] = stored
        chain.prev_hash[i * HASH_BYTES:(i + 1) * HASH_BYTES] = prev
    return count


def _entry_ref(shard: int, seq: int) -> str:
    """A placeholder for the id of the entry at (shard, seq), resolved after the scan."""
    return f"@{shard}:{seq}"


def _resolve_ids(session: Session, report: VerifyReport) -> None:
    """Link problems name positions; fetch the ids of the entries there in one query."""
    wanted = {p.entry_id for p in report.problems if p.entry_id and p.entry_id[0] == "@"}
    if not wanted:
        return
    positions = [tuple(int(x) for x in ref[1:].split(":")) for ref in wanted]
    found: dict[str, str] = {}
    for shard, seq, entry_id in session.execute(
            select(_E.c.shard, _E.c.seq, cast(_E.c.id, Text))
            .where(tuple_(_E.c.shard, _E.c.seq).in_(positions))):
        found[_entry_ref(shard, seq)] = str(uuid.UUID(str(entry_id)))
    report.problems = [
        replace(p, entry_id=found.get(p.entry_id)) if p.entry_id in wanted else p
        for p in report.problems]


def _check_links(chain: _Chain, base: AnchorState, report: VerifyReport, *,
                 windowed: bool) -> None:
    shard = chain.shard
    through = base.through(shard)
    holes = base.holes(shard)
    expected: bytes | None = base.through_hash(shard) if chain.lo == through + 1 else None
    for seq in range(chain.lo, chain.hi + 1):
        if not chain.present[seq - chain.lo]:
            if seq in holes:
                expected = holes[seq]
                continue
            if windowed and seq == chain.lo:
                expected = None  # the window's first predecessor is outside the window
                continue
            following = next((s for s in range(seq + 1, chain.hi + 1) if chain.has(s)), None)
            report.add(Problem(shard, seq, "missing",
                               _entry_ref(shard, following) if following is not None else None,
                               "no entry at this position (deleted)"
                               + (f"; next present is seq {following}" if following else "")))
            expected = None
            continue
        prev = chain.prev_at(seq)
        if expected is not None and prev != expected:
            report.add(Problem(shard, seq, "link_broken", _entry_ref(shard, seq),
                               "prev_hash is not the hash of the entry before it "
                               "(reordered or inserted)"))
        expected = chain.hash_at(seq)


def _check_checkpoints(chain: _Chain, checkpoints: dict[int, bytes], report: VerifyReport,
                       head_seq: int, *, windowed: bool) -> None:
    for seq, digest in sorted(checkpoints.items()):
        if chain.lo <= seq <= chain.hi:
            if not chain.has(seq):
                continue  # reported as missing already
            if chain.hash_at(seq) != digest:
                report.add(Problem(chain.shard, seq, "checkpoint_mismatch",
                                   _entry_ref(chain.shard, seq),
                                   "the chain differs from what was signed at this position "
                                   "(rewritten)"))
        elif seq > head_seq and not windowed:
            report.add(Problem(chain.shard, head_seq + 1, "tail_missing", None,
                               f"a checkpoint signed seq {seq}, beyond the head "
                               f"{head_seq} (entries deleted at the end)"))


def _check_head(chain: _Chain, base: AnchorState, head: AuditChainHead,
                report: VerifyReport) -> None:
    if head.seq <= base.through(chain.shard):
        return
    if not chain.has(head.seq):
        return  # reported as missing
    if chain.hash_at(head.seq) != head.entry_hash:
        report.add(Problem(chain.shard, head.seq, "head_mismatch",
                           _entry_ref(chain.shard, head.seq),
                           "the last entry is not the one the chain head records"))


# --- several processes --------------------------------------------------------------------------

def _verify_job(database_url: str, public_keys: Sequence[bytes], shards: Sequence[int],
                since: datetime | None, until: datetime | None,
                include_unchained: bool) -> VerifyReport:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from gateway.kit.db import Database

    trusted = TrustedKeys([Ed25519PublicKey.from_public_bytes(k) for k in public_keys])
    database = Database.from_url(database_url)
    try:
        with database.transaction() as session:
            return verify(session, trusted, since=since, until=until, shards=shards,
                          include_unchained=include_unchained)
    finally:
        database.dispose()


def verify_parallel(database_url: str, trusted: TrustedKeys, *, jobs: int,
                    since: datetime | None = None,
                    until: datetime | None = None) -> VerifyReport:
    """Split the shards over `jobs` processes (each reads its own shards' rows)."""
    from gateway.kit.db import Database

    database = Database.from_url(database_url)
    try:
        with database.transaction() as session:
            all_shards = sorted(session.scalars(select(AuditChainHead.shard)))
    finally:
        database.dispose()
    jobs = max(1, min(jobs, len(all_shards) or 1))
    groups = [all_shards[i::jobs] for i in range(jobs)]
    keys = trusted.public_bytes()
    started = time.perf_counter()
    report = VerifyReport(since=since, until=until)
    if jobs == 1:
        report.merge(_verify_job(database_url, keys, groups[0], since, until, True))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_verify_job, database_url, keys, group, since, until,
                                   index == 0) for index, group in enumerate(groups)]
            for future in futures:
                report.merge(future.result())
    report.seconds = time.perf_counter() - started
    return report
