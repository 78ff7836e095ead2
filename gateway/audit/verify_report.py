"""What `audit verify` reports (`VerifyReport`, `Problem`) and the per-chain arrays it fills
(`Chain`): split from `gateway.audit.verify` so the row scans (`gateway.audit.verify_scan`)
can share them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from gateway.audit.models import HASH_BYTES
from gateway.kit.timeutil import utcnow

MAX_PROBLEMS = 100


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
    # When each chain's unsigned tail began (its oldest entry after the last signed position).
    unsigned_since: dict[int, datetime] = field(default_factory=dict)
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
        self.unsigned_since.update(other.unsigned_since)
        self.problems = sorted(set(self.problems) | set(other.problems))[:MAX_PROBLEMS]

    def unsigned_tail(self, now: datetime | None = None) -> dict[str, Any]:
        """The entries no signed checkpoint covers yet, in all, and how old the oldest is."""
        now = now or utcnow()
        oldest = min(self.unsigned_since.values(), default=None)
        return {"entries": sum(self.unsigned.values()),
                "chains": sum(1 for n in self.unsigned.values() if n),
                "oldest_at": oldest.isoformat() if oldest else None,
                "age_seconds": round((now - oldest).total_seconds(), 3) if oldest else 0.0}

    def to_dict(self) -> dict[str, Any]:
        first = self.first
        return {
            "unsigned_tail": self.unsigned_tail(),
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
class Chain:
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


