"""Which live figures speak for which clause. Each figure is a label, a value and `alarm`
(true: the figure shows a breach or a weakness, drawn in red)."""

from __future__ import annotations

from typing import Any

from gateway.compliance.figures import DERIVED_ACTIONS
from gateway.policy.vocabulary import PROHIBITED_PURPOSES

PURPOSES = {
    "lu.advertising": ("advertising", "retargeting", "personalised_ads"),
    "lu.sale": ("data_sale", "data_broker_transfer", "ad_platform_transfer"),
    "lu.credit": ("credit_scoring", "lending"),
    "lu.ai_training": ("ai_training", "ai_model_improvement"),
}


def _f(label: str, value: Any, alarm: bool = False) -> dict[str, Any]:
    return {"label": label, "value": value, "alarm": alarm}


def _count(decisions: list[dict[str, Any]], **match: Any) -> int:
    return sum(d["count"] for d in decisions
               if all(d.get(k) == v for k, v in match.items()))


def _prohibited(figures: dict[str, Any], purposes: tuple[str, ...]) -> list[dict[str, Any]]:
    by = figures["prohibited"]["by_purpose"]
    refused = sum(n for key, n in by.items()
                  if key.split(":")[0] in purposes and not key.endswith(":allow"))
    allowed = sum(n for key, n in by.items()
                  if key.split(":")[0] in purposes and key.endswith(":allow"))
    return [_f(f"requests stating {', '.join(purposes)} refused", refused),
            _f("of those allowed", allowed, alarm=allowed > 0)]


def _human(figures: dict[str, Any], basis: str, label: str) -> list[dict[str, Any]]:
    count = figures["human_access"]["by_basis"].get(basis, 0)
    return [_f(label, count)]


def clause_figures(clause: str, figures: dict[str, Any],
                   verification: dict[str, Any]) -> list[dict[str, Any]]:
    d = figures["decisions"]
    human = figures["human_access"]
    aggregates = figures["aggregates"]
    if clause == "lu.user_facing":
        return [_f("allowed for purpose user_facing", _count(d, purpose="user_facing",
                                                             decision="allow")),
                _f("refused (deny)", figures["by_decision"].get("deny", 0)),
                _f("refused (engine or log unavailable)", figures["by_decision"].get("error", 0))]
    if clause == "lu.transfer":
        transfers = figures["transfers"]
        return [_f("data.transfer decisions allowed", transfers.get("allow", 0)),
                _f("data.transfer decisions refused", transfers.get("deny", 0)),
                *_prohibited(figures, ("ad_platform_transfer", "data_broker_transfer"))]
    if clause in PURPOSES:
        return _prohibited(figures, PURPOSES[clause])
    if clause == "lu.human_reading":
        unjustified = sum(n for b, n in human["by_basis"].items()
                          if b not in ("grant", "security", "legal")
                          and b != "allow_operator_metadata_redacted")
        return [_f("human accesses allowed", human["total"]),
                _f("human accesses refused", human["refused"]),
                _f("allowed without a grant, a justification or redaction", unjustified,
                   alarm=unjustified > 0)]
    if clause == "lu.human_reading.consent":
        return [*_human(figures, "grant", "human accesses under a consent grant"),
                _f("distinct grants used", len(human["grants"])),
                _f("refused: consent required", human["refused_by_reason"].get(
                    "consent_required", 0))]
    if clause == "lu.human_reading.security":
        return _human(figures, "security", "human accesses under a security justification")
    if clause == "lu.human_reading.legal":
        return _human(figures, "legal", "human accesses under a legal justification")
    if clause in ("lu.human_reading.aggregated", "lu.analytics"):
        return [_f("aggregates served", aggregates["served"]),
                _f("smallest cohort served", aggregates["smallest_cohort"]),
                _f("served below k", aggregates["served_below_k"],
                   alarm=aggregates["served_below_k"] > 0),
                _f("aggregates refused", aggregates["total"] - aggregates["served"])]
    if clause == "lu.derived":
        derived = figures["derived"]
        prohibited = [x for x in d if x["action"] in DERIVED_ACTIONS
                      and x["purpose"] in PROHIBITED_PURPOSES]
        allowed = sum(x["count"] for x in prohibited if x["decision"] == "allow")
        return [_f(f"derived views ({', '.join(sorted(DERIVED_ACTIONS))}) allowed",
                   derived.get("allow", 0)),
                _f("derived views refused", derived.get("deny", 0)),
                _f("derived views for a prohibited purpose refused",
                   sum(x["count"] for x in prohibited) - allowed),
                _f("of those allowed", allowed, alarm=allowed > 0)]
    if clause == "pp.operation_log":
        tail = verification["unsigned_tail"]
        return [_f("entries in the period", figures["entries"]),
                _f("log verifies", verification["ok"], alarm=not verification["ok"]),
                _f("entries checked (whole log)", verification["entries_checked"]),
                _f("signed checkpoints", verification["checkpoints"]),
                _f("unsigned tail (entries)", tail["entries"])]
    if clause == "pp.encryption":
        reads = figures["content_reads"]
        allowed = sum(n for k, n in reads.items() if k.endswith(":allow"))
        return [_f("content reads allowed (each decrypted only under an allow)", allowed),
                _f("content reads refused", sum(reads.values()) - allowed),
                _f("key events (rotation, shredding)", figures["key_events"]["total"])]
    if clause == "pp.user_rights":
        return [_f("exports allowed", figures["exports"]["allowed"]),
                _f("restrictions allowed", figures["restrictions"]["allowed"]),
                _f("access-log reads by owners", _count(d, action="audit.query",
                                                        purpose="user_rights"))]
    if clause == "pp.deletion":
        shredded = figures["key_events"]["by_operation"].get("keys:data_key:shredded", 0)
        return [_f("erasures allowed", figures["erasures"]["allowed"]),
                _f("mailbox keys crypto-shredded", shredded)]
    return []
