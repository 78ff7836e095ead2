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

import os
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import datetime

from sqlalchemy import ColumnElement, Text, and_, cast, func, or_, select, tuple_
from sqlalchemy.orm import Session

from gateway.audit.canonical import signed_message
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
from gateway.audit.verify_report import Chain, Problem, VerifyReport
from gateway.audit.verify_scan import scan
from gateway.kit.timeutil import as_utc

__all__ = ["Problem", "VerifyReport", "default_jobs", "verify", "verify_parallel"]

_E = ENTRIES


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

    chains: dict[int, Chain] = {}
    if windowed:
        ranges = _window_ranges(session, wanted, since, until)
        for shard, (lo, hi) in ranges.items():
            floor = base.through(shard) + 1
            chains[shard] = Chain(shard, max(lo - 1, floor), hi)
    else:
        for shard in wanted:
            chains[shard] = Chain(shard, base.through(shard) + 1, heads[shard].seq)

    report.entries = scan(session, chains, base, report, since=since, until=until,
                           windowed=windowed, include_unchained=include_unchained)
    for shard, chain in sorted(chains.items()):
        _check_links(chain, base, report, windowed=windowed)
        _check_checkpoints(chain, checkpoints.get(shard, {}), report, heads[shard].seq,
                           windowed=windowed)
        if not windowed:
            _check_head(chain, base, heads[shard], report)
        signed = max([base.through(shard), *checkpoints.get(shard, {}).keys()])
        report.unsigned[shard] = max(heads[shard].seq - signed, 0)
    _unsigned_since(session, heads, report)
    _resolve_ids(session, report)
    report.problems.sort()
    report.seconds = time.perf_counter() - started
    return report


def _unsigned_since(session: Session, heads: dict[int, AuditChainHead],
                    report: VerifyReport) -> None:
    """When each chain's unsigned tail began: the oldest `occurred_at` after its last valid
    signed position (one pass over the tails; entries are not ordered by time along a chain)."""
    tails = {shard: heads[shard].seq - count for shard, count in report.unsigned.items()
             if count > 0}
    if not tails:
        return
    condition = or_(*[and_(_E.c.shard == shard, _E.c.seq > after)
                      for shard, after in sorted(tails.items())])
    for shard, oldest in session.execute(select(_E.c.shard, func.min(_E.c.occurred_at))
                                         .where(condition).group_by(_E.c.shard)):
        report.unsigned_since[int(shard)] = as_utc(oldest)


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


def _links_intact(chain: Chain, expected: bytes | None) -> bool:
    """The usual case in two comparisons: every position present, the first entry linked to
    `expected` (when known) and each other entry's prev_hash equal to its predecessor's hash
    (the two arrays compared shifted by one entry). False means: walk it and name the spot."""
    size = chain.hi - chain.lo + 1
    if size <= 0:
        return True
    if chain.present.count(0):
        return False
    if expected is not None and chain.prev_at(chain.lo) != expected:
        return False
    return chain.prev_hash[HASH_BYTES:] == chain.entry_hash[:-HASH_BYTES]


def _check_links(chain: Chain, base: AnchorState, report: VerifyReport, *,
                 windowed: bool) -> None:
    shard = chain.shard
    through = base.through(shard)
    holes = base.holes(shard)
    expected: bytes | None = base.through_hash(shard) if chain.lo == through + 1 else None
    if _links_intact(chain, expected):
        return
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


def _check_checkpoints(chain: Chain, checkpoints: dict[int, bytes], report: VerifyReport,
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


def _check_head(chain: Chain, base: AnchorState, head: AuditChainHead,
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


def default_jobs(shards: int, cpus: int | None = None) -> int:
    """How many processes `audit verify` uses unless told: one per two CPUs (each job keeps
    two busy: itself hashing, and its PostgreSQL backend producing the rows it reads at the
    same time), never more than there are chains. On two CPUs that is one job."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(1, min(shards, cpus // 2))


def verify_parallel(database_url: str, trusted: TrustedKeys, *, jobs: int | None = None,
                    since: datetime | None = None,
                    until: datetime | None = None) -> VerifyReport:
    """Split the chains over `jobs` processes (default `default_jobs`); each job reads and
    checks its own chains' rows, the first also the unchained ones, and the reports are
    merged: problems are sorted by position, so the first one named is the same as with one
    process."""
    from gateway.kit.db import Database

    database = Database.from_url(database_url)
    try:
        with database.transaction() as session:
            all_shards = sorted(session.scalars(select(AuditChainHead.shard)))
    finally:
        database.dispose()
    if jobs is None:
        jobs = default_jobs(len(all_shards))
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
