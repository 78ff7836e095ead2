"""A mailbox's history: monotonically increasing ids, records Gmail's history.list returns,
and expiry (records older than the retention, or dropped by fault injection, are gone and a
``startHistoryId`` before them answers 404 like Gmail)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")


@dataclass
class HistoryRecord:
    id: int
    time: float
    message_id: str
    thread_id: str
    labels_after: list[str]
    added: bool = False
    deleted: bool = False
    labels_added: list[str] = field(default_factory=list)
    labels_removed: list[str] = field(default_factory=list)

    def types(self) -> set[str]:
        out = set()
        if self.added:
            out.add("messageAdded")
        if self.deleted:
            out.add("messageDeleted")
        if self.labels_added:
            out.add("labelAdded")
        if self.labels_removed:
            out.add("labelRemoved")
        return out

    def resource(self, types: set[str] | None = None) -> dict[str, Any] | None:
        wanted = self.types() if types is None else self.types() & types
        if not wanted:
            return None
        ref = {"id": self.message_id, "threadId": self.thread_id}
        with_labels = {**ref, "labelIds": list(self.labels_after)}
        out: dict[str, Any] = {"id": str(self.id), "messages": [dict(ref)]}
        if "messageAdded" in wanted:
            out["messagesAdded"] = [{"message": dict(with_labels)}]
        if "messageDeleted" in wanted:
            out["messagesDeleted"] = [{"message": dict(ref)}]
        if "labelAdded" in wanted:
            out["labelsAdded"] = [{"message": dict(with_labels),
                                   "labelIds": list(self.labels_added)}]
        if "labelRemoved" in wanted:
            out["labelsRemoved"] = [{"message": dict(with_labels),
                                     "labelIds": list(self.labels_removed)}]
        return out

    def touches_label(self, label_id: str) -> bool:
        return (label_id in self.labels_after or label_id in self.labels_added
                or label_id in self.labels_removed)


class History:
    """History ids and records of one mailbox. Not thread-safe: the mailbox lock guards it."""

    def __init__(self, start: int, seed: int) -> None:
        self.current = start
        # Everything at or below ``floor`` has been forgotten.
        self.floor = start
        self.records: list[HistoryRecord] = []
        self._rng = random.Random(seed)

    def next_id(self) -> int:
        # Gmail's ids increase but are not contiguous; clients must not assume +1.
        self.current += self._rng.randint(1, 7)
        return self.current

    def append(self, record: HistoryRecord) -> None:
        self.records.append(record)

    def expire_before(self, cutoff_time: float) -> None:
        keep = [r for r in self.records if r.time >= cutoff_time]
        dropped = len(self.records) - len(keep)
        if dropped:
            self.floor = max(self.floor, self.records[dropped - 1].id)
            self.records = keep

    def expire_all(self) -> None:
        """Forget every record: any startHistoryId before now answers 404."""
        self.records = []
        self.floor = self.current

    def valid_start(self, start: int) -> bool:
        return start >= self.floor

    def since(self, start: int) -> list[HistoryRecord]:
        # Records are appended in id order; bisect would do, a scan is fine at this scale.
        return [r for r in self.records if r.id > start]
