"""What a run of `history.list` records amounts to, reduced so that applying it is idempotent:
the ids to fetch (added and not deleted afterwards), the ids deleted, and the label additions
and removals in their order (set operations: applying them twice changes nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Plan:
    """What a run of history records amounts to."""

    fetch: dict[str, str] = field(default_factory=dict)  # gmail id → thread id, to fetch
    deleted: set[str] = field(default_factory=set)
    label_ops: list[tuple[str, str, list[str]]] = field(default_factory=list)

    @classmethod
    def from_history(cls, records: list[dict[str, Any]]) -> Plan:
        plan = cls()
        for record in records:
            for item in record.get("messagesAdded", []):
                msg = item["message"]
                plan.fetch[msg["id"]] = msg.get("threadId", msg["id"])
                plan.deleted.discard(msg["id"])
            for item in record.get("messagesDeleted", []):
                gmail_id = item["message"]["id"]
                plan.fetch.pop(gmail_id, None)
                plan.deleted.add(gmail_id)
            for key, op in (("labelsAdded", "add"), ("labelsRemoved", "remove")):
                for item in record.get(key, []):
                    plan.label_ops.append((item["message"]["id"], op,
                                           list(item.get("labelIds", []))))
        return plan


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


