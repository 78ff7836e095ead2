"""Aggregate endpoints for internal operations. The cohort size is computed *before* the
decision and handed to the policy, which refuses cohorts below k or identifying group keys.

The policy's `min_cohort` obligation (k) then applies to every output group: a group whose
messages come from fewer than k distinct mailboxes is not shown; such groups are merged into
one `other` row, itself shown only when it spans at least k mailboxes (otherwise dropped)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller, SessionDep
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.kit.errors import BadRequest, Unavailable
from gateway.kit.timeutil import utcnow
from gateway.mail.models import Message
from gateway.policy.enforcement import Resolved, Resource
from gateway.policy.vocabulary import Action

router = GuardedRouter(prefix="/v1/analytics", tags=["analytics"])
GROUPINGS = {"day", "week", "size_bucket", "label_kind", "mailbox", "sender"}
MAX_DAYS = 366


def _window(request: Request) -> tuple[datetime, list[str]]:
    params = request.query_params
    try:
        days = int(params.get("days", "30"))
    except ValueError:
        raise BadRequest("days must be a whole number", code="invalid_parameter") from None
    if not 1 <= days <= MAX_DAYS:
        raise BadRequest(f"days must be between 1 and {MAX_DAYS}", code="invalid_parameter")
    group_by = list(dict.fromkeys(g for g in params.get("group_by", "day").split(",") if g))
    unknown = [g for g in group_by if g not in GROUPINGS]
    if unknown or not group_by:
        raise BadRequest(f"group_by takes {', '.join(sorted(GROUPINGS))}",
                         code="invalid_parameter")
    return utcnow() - timedelta(days=days), group_by


def volume_resource(session: Session, caller: Caller, request: Request) -> Resolved:
    since, group_by = _window(request)
    cohort = session.scalar(select(func.count(func.distinct(Message.mailbox_id))).where(
        Message.tenant_id == caller.tenant_id, Message.internal_date >= since)) or 0
    return Resolved(
        Resource(type="aggregate", tenant=str(caller.tenant_id)),
        aggregate={"cohort_size": int(cohort), "group_keys": group_by})


def _size_bucket(size: int) -> str:
    for limit, name in ((10_000, "<10KB"), (100_000, "<100KB"), (1_000_000, "<1MB")):
        if size < limit:
            return name
    return ">=1MB"


def _label_kind(labels: list[str]) -> str:
    return "user" if any(label.startswith("Label_") for label in labels) else "system"


def _min_cohort(access: Any) -> int:
    """k, from the decision's obligation: an allow without a usable k serves nothing."""
    k = access.decision.obligations.get("min_cohort")
    if type(k) is not int or k < 2:
        raise Unavailable("the decision carries no usable min_cohort obligation",
                          code="min_cohort_missing")
    return k


def _group_key(group_by: list[str], when: datetime, size: int, labels: list[str]
               ) -> tuple[str, ...]:
    key: list[str] = []
    for group in group_by:
        if group == "day":
            key.append(when.date().isoformat())
        elif group == "week":
            key.append(f"{when.isocalendar().year}-W{when.isocalendar().week:02d}")
        elif group == "size_bucket":
            key.append(_size_bucket(size))
        elif group == "label_kind":
            key.append(_label_kind(labels))
    return tuple(key)


def message_volume(request: Request, session: SessionDep, access: AccessDep) -> dict[str, Any]:
    """Message counts over the caller's tenant, grouped by time and size: never by person, and
    never a group drawn from fewer than k mailboxes (those are merged into `other`)."""
    since, group_by = _window(request)
    k = _min_cohort(access)
    rows = session.execute(select(Message.mailbox_id, Message.internal_date,
                                  Message.size_estimate, Message.label_ids).where(
        Message.tenant_id == request.state.caller.tenant_id, Message.internal_date >= since))
    counts: Counter[tuple[str, ...]] = Counter()
    mailboxes: dict[tuple[str, ...], set[Any]] = defaultdict(set)
    for mailbox_id, when, size, labels in rows:
        key = _group_key(group_by, when, size, labels)
        counts[key] += 1
        mailboxes[key].add(mailbox_id)
    buckets = []
    other_messages, other_mailboxes = 0, set()
    for key, messages in sorted(counts.items()):
        if len(mailboxes[key]) >= k:
            buckets.append({"key": list(key), "messages": messages})
        else:
            other_messages += messages
            other_mailboxes |= mailboxes[key]
    other = {"messages": other_messages} if len(other_mailboxes) >= k else None
    aggregate = access.request.aggregate or {}
    return {"group_by": group_by, "min_cohort": k,
            "cohort_size": aggregate.get("cohort_size"), "buckets": buckets, "other": other}


router.add("GET", "/message-volume", message_volume, action=Action.analytics_aggregate,
           resource=volume_resource)
