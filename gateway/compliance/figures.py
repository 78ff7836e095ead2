"""The live figures of a report, computed from operation-log entries.

The same code runs over the database (`gateway.compliance.live`: `Tally.count` for groups of
alike entries, `Tally.inspect` for the listed ones) and over a log export, entry by entry
(`Tally.add`, read back by `gmail-gateway compliance verify`), so a verifier re-derives exactly
what the report states. Ids and counts only: never subjects, bodies,
addresses or free text (a justification's case reference is not copied either).

Every list is sorted by (occurred_at, id) and cut at `LIST_LIMIT` items; the counts beside it
are exact.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gateway.policy.vocabulary import PROHIBITED_PURPOSES

LIST_LIMIT = 500

HUMAN_KINDS = frozenset({"operator"})
EXPORT_ACTIONS = frozenset({"data.export"})
RESTRICT_ACTIONS = frozenset({"data.restrict"})
ERASURE_ACTIONS = frozenset({"oauth.disconnect", "data.delete"})
CONTENT_ACTIONS = frozenset({"mail.message.read_content", "mail.thread.read_content",
                             "mail.attachment.read", "mail.draft.read"})
DERIVED_ACTIONS = frozenset({"mail.search", "mail.contact_timeline", "mail.thread.read_metadata",
                             "analytics.aggregate"})
KEY_OPERATIONS = frozenset({"keys:kek:rotated", "keys:data_key:shredded",
                            "audit:signing_key:rotated", "audit:log:purged",
                            "audit:checkpoint:requested"})
REPORT_ACTION = "compliance.report"


LISTED_ACTIONS = (frozenset({"analytics.aggregate", REPORT_ACTION}) | EXPORT_ACTIONS
                  | RESTRICT_ACTIONS | ERASURE_ACTIONS)


def listed(actor_kind: str, operation: str, action: str, purpose: str) -> bool:
    """Whether an entry goes into a list (`Tally.inspect`); `gateway.compliance.live` selects
    the same entries in SQL."""
    return (purpose in PROHIBITED_PURPOSES or action in LISTED_ACTIONS
            or operation in KEY_OPERATIONS
            or (actor_kind in HUMAN_KINDS and action.startswith("mail.")))


def _loads(raw: Any) -> Any:
    """JSON columns arrive as their stored text (database) or already parsed (export)."""
    return json.loads(raw) if isinstance(raw, str) else raw


@dataclass
class _Listed:
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, item: dict[str, Any]) -> None:
        self.items.append(item)

    def out(self) -> dict[str, Any]:
        ordered = sorted(self.items, key=lambda i: (i["occurred_at"], i["id"]))
        return {"total": len(ordered), "items": ordered[:LIST_LIMIT]}


@dataclass
class Tally:
    """Feed entries with `add`, read the figures with `figures`."""

    entries: int = 0
    by_decision: Counter[str] = field(default_factory=Counter)
    by_actor_kind: Counter[str] = field(default_factory=Counter)
    decisions: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    prohibited: _Listed = field(default_factory=_Listed)
    human: _Listed = field(default_factory=_Listed)
    human_refused: Counter[str] = field(default_factory=Counter)
    aggregates: _Listed = field(default_factory=_Listed)
    exports: _Listed = field(default_factory=_Listed)
    restrictions: _Listed = field(default_factory=_Listed)
    erasures: _Listed = field(default_factory=_Listed)
    key_events: _Listed = field(default_factory=_Listed)
    reports: _Listed = field(default_factory=_Listed)
    content_reads: Counter[str] = field(default_factory=Counter)
    derived: Counter[str] = field(default_factory=Counter)
    transfers: Counter[str] = field(default_factory=Counter)

    def add(self, *, id: str, occurred_at: str, mailbox_id: str | None, actor_kind: str,
            actor_id: str, operation: str, action: str, purpose: str, decision: str,
            reasons: Any, detail: Any, resource_ids: Any) -> None:
        """One entry. `occurred_at` is ISO 8601 UTC; `reasons`, `detail` and `resource_ids`
        are JSON text or values, parsed only for the entries that need them."""
        reasons_key = reasons if isinstance(reasons, str) else json.dumps(
            reasons, separators=(",", ":"))
        self.count(action, purpose, decision, reasons_key, actor_kind, 1)
        if listed(actor_kind, operation, action, purpose):
            self.inspect(id=id, occurred_at=occurred_at, mailbox_id=mailbox_id,
                         actor_kind=actor_kind, actor_id=actor_id, operation=operation,
                         action=action, purpose=purpose, decision=decision, reasons=reasons,
                         detail=detail, resource_ids=resource_ids)

    def count(self, action: str, purpose: str, decision: str, reasons_key: str,
              actor_kind: str, n: int) -> None:
        """`n` entries alike in these fields (`reasons_key`: the reasons' canonical JSON)."""
        self.entries += n
        self.by_decision[decision] += n
        self.by_actor_kind[actor_kind] += n
        self.decisions[(action, purpose, decision, reasons_key)] += n
        if action in CONTENT_ACTIONS:
            self.content_reads[f"{actor_kind}:{decision}"] += n
        if action in DERIVED_ACTIONS:
            self.derived[decision] += n
        if action == "data.transfer":
            self.transfers[decision] += n

    def inspect(self, *, id: str, occurred_at: str, mailbox_id: str | None, actor_kind: str,
                actor_id: str, operation: str, action: str, purpose: str, decision: str,
                reasons: Any, detail: Any, resource_ids: Any) -> None:
        """The lists: called for the entries `listed` selects (counted apart, by `count`)."""
        base = {"id": id, "occurred_at": occurred_at}
        if purpose in PROHIBITED_PURPOSES:
            self.prohibited.add({**base, "actor_kind": actor_kind, "actor_id": actor_id,
                                 "action": action, "purpose": purpose, "decision": decision,
                                 "reasons": _loads(reasons)})
        if actor_kind in HUMAN_KINDS and action.startswith("mail."):
            if decision == "allow":
                self.human.add(self._human(base, mailbox_id, actor_id, action, purpose,
                                           _loads(reasons), _loads(detail),
                                           _loads(resource_ids)))
            else:
                for reason in _loads(reasons) or ["none"]:
                    self.human_refused[reason] += 1
        if action == "analytics.aggregate":
            aggregate = (_loads(detail) or {}).get("aggregate") or {}
            self.aggregates.add({**base, "decision": decision, "reasons": _loads(reasons),
                                 "cohort_size": aggregate.get("cohort_size"),
                                 "min_cohort": aggregate.get("min_cohort"),
                                 "group_keys": aggregate.get("group_keys")})
        rights = (self.exports if action in EXPORT_ACTIONS else
                  self.restrictions if action in RESTRICT_ACTIONS else
                  self.erasures if action in ERASURE_ACTIONS else None)
        if rights is not None:
            rights.add({**base, "mailbox_id": mailbox_id, "actor_kind": actor_kind,
                        "action": action, "decision": decision, "reasons": _loads(reasons)})
        if operation in KEY_OPERATIONS:
            self.key_events.add({**base, "operation": operation, "mailbox_id": mailbox_id,
                                 "actor_id": actor_id})
        if action == REPORT_ACTION:
            self.reports.add({**base, "actor_id": actor_id, "decision": decision})

    @staticmethod
    def _human(base: dict[str, Any], mailbox_id: str | None, actor_id: str, action: str,
               purpose: str, reasons: list[str], detail: dict[str, Any],
               resource_ids: list[str]) -> dict[str, Any]:
        justification = detail.get("justification") or {}
        basis = ("grant" if detail.get("grant_id") else
                 justification.get("kind") if justification else
                 ",".join(reasons))
        return {**base, "actor_id": actor_id, "mailbox_id": mailbox_id, "action": action,
                "purpose": purpose, "items": len(resource_ids or []), "basis": basis,
                "grant_id": detail.get("grant_id") or None,
                "grant_expires_at": detail.get("grant_expires_at"),
                "justification_id": justification.get("id") or None,
                "justification_expires_at": detail.get("justification_expires_at"),
                "flag_for_review": bool(detail.get("flag_for_review"))}

    def figures(self) -> dict[str, Any]:
        decisions = [{"action": a, "purpose": p, "decision": d, "reasons": json.loads(r),
                      "count": n} for (a, p, d, r), n in sorted(self.decisions.items())]
        human = self.human.out()
        by_basis = Counter(i["basis"] for i in self.human.items)
        aggregates = self.aggregates.out()
        served = [i for i in self.aggregates.items if i["decision"] == "allow"]
        sizes = [i["cohort_size"] for i in served if isinstance(i["cohort_size"], int)]
        below_k = sum(1 for i in served if isinstance(i["cohort_size"], int)
                      and isinstance(i["min_cohort"], int) and i["cohort_size"] < i["min_cohort"])
        prohibited = self.prohibited.out()
        prohibited_by = Counter(f"{i['purpose']}:{i['decision']}" for i in self.prohibited.items)
        return {
            "entries": self.entries,
            "by_decision": dict(sorted(self.by_decision.items())),
            "by_actor_kind": dict(sorted(self.by_actor_kind.items())),
            "decisions": decisions,
            "prohibited": {**prohibited, "by_purpose": dict(sorted(prohibited_by.items())),
                           "allowed": sum(1 for i in self.prohibited.items
                                          if i["decision"] == "allow")},
            "human_access": {**human, "by_basis": dict(sorted(by_basis.items())),
                             "refused_by_reason": dict(sorted(self.human_refused.items())),
                             "refused": sum(self.human_refused.values()),
                             "grants": sorted({i["grant_id"] for i in self.human.items
                                               if i["grant_id"]}),
                             "justifications": sorted({i["justification_id"]
                                                       for i in self.human.items
                                                       if i["justification_id"]})},
            "aggregates": {**aggregates, "served": len(served),
                           "smallest_cohort": min(sizes) if sizes else None,
                           "served_below_k": below_k},
            "exports": self._rights(self.exports),
            "restrictions": self._rights(self.restrictions),
            "erasures": self._rights(self.erasures),
            "key_events": {**self.key_events.out(),
                           "by_operation": dict(sorted(Counter(
                               i["operation"] for i in self.key_events.items).items()))},
            "reports": self.reports.out(),
            "content_reads": dict(sorted(self.content_reads.items())),
            "derived": dict(sorted(self.derived.items())),
            "transfers": dict(sorted(self.transfers.items())),
        }

    @staticmethod
    def _rights(listed: _Listed) -> dict[str, Any]:
        out = listed.out()
        out["allowed"] = sum(1 for i in listed.items if i["decision"] == "allow")
        return out
