"""The live evidence over a period: the figures of the operation log's entries (the counts by
one GROUP BY, then the few entries that go into a list read one by one, their JSON columns as
stored text parsed only where a figure needs them) and the log's verification result.

Scope: the entries of one tenant plus the deployment-wide ones (no tenant: checkpoints,
purges, key rotations), with `since <= occurred_at < until`. `entry_in_scope` states the same
rule for a verifier reading an export.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from gateway.audit.models import ENTRIES
from gateway.audit.signing import TrustedKeys
from gateway.audit.verify import verify
from gateway.compliance.figures import (
    HUMAN_KINDS,
    KEY_OPERATIONS,
    LISTED_ACTIONS,
    Tally,
)
from gateway.kit.timeutil import as_utc, utc_text
from gateway.policy.vocabulary import PROHIBITED_PURPOSES

_E = ENTRIES
_BATCH = 20_000


def _scope(tenant_id: uuid.UUID | None, since: datetime,
           until: datetime) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [_E.c.occurred_at >= since, _E.c.occurred_at < until]
    if tenant_id is not None:
        where.append(or_(_E.c.tenant_id == tenant_id, _E.c.tenant_id.is_(None)))
    return where


def _listed() -> ColumnElement[bool]:
    """`gateway.compliance.figures.listed`, in SQL."""
    return or_(_E.c.purpose.in_(sorted(PROHIBITED_PURPOSES)),
               _E.c.action.in_(sorted(LISTED_ACTIONS)),
               _E.c.operation.in_(sorted(KEY_OPERATIONS)),
               and_(_E.c.actor_kind.in_(sorted(HUMAN_KINDS)), _E.c.action.like("mail.%")))


def _uuid_text(value: str | None) -> str | None:
    """SQLite stores UUIDs as 32 hex digits; PostgreSQL's text is the canonical form."""
    if value is None or len(value) == 36:
        return value
    return str(uuid.UUID(value))


def figures_from_database(session: Session, tenant_id: uuid.UUID | None, since: datetime,
                          until: datetime) -> dict[str, Any]:
    """The database counts alike entries itself (one GROUP BY); only the entries that go
    into a list are read one by one."""
    tally = Tally()
    scope = _scope(tenant_id, since, until)
    reasons = cast(_E.c.reasons, Text)
    grouped = (select(_E.c.action, _E.c.purpose, _E.c.decision, reasons, _E.c.actor_kind,
                      func.count()).where(*scope)
               .group_by(_E.c.action, _E.c.purpose, _E.c.decision, reasons, _E.c.actor_kind))
    for action, purpose, decision, reasons_key, actor_kind, n in session.execute(grouped):
        tally.count(action, purpose, decision, reasons_key, actor_kind, int(n))
    rows = (select(cast(_E.c.id, Text), _E.c.occurred_at, cast(_E.c.mailbox_id, Text),
                   _E.c.actor_kind, _E.c.actor_id, _E.c.operation, _E.c.action, _E.c.purpose,
                   _E.c.decision, reasons, cast(_E.c.detail, Text),
                   cast(_E.c.resource_ids, Text))
            .where(*scope, _listed()).execution_options(yield_per=_BATCH))
    for (entry_id, occurred_at, mailbox_id, actor_kind, actor_id, operation, action, purpose,
         decision, reasons_text, detail, resource_ids) in session.execute(rows):
        tally.inspect(id=_uuid_text(entry_id) or "", occurred_at=utc_text(occurred_at),
                      mailbox_id=_uuid_text(mailbox_id), actor_kind=actor_kind,
                      actor_id=actor_id, operation=operation, action=action, purpose=purpose,
                      decision=decision, reasons=reasons_text, detail=detail,
                      resource_ids=resource_ids)
    return tally.figures()


def entry_in_scope(entry: Mapping[str, Any], tenant_id: str | None, since: datetime,
                   until: datetime) -> bool:
    """For an exported entry (`AuditEntryOut` as JSON): the scope `_rows` selects."""
    when = as_utc(datetime.fromisoformat(str(entry["occurred_at"]).replace("Z", "+00:00")))
    if not since <= when < until:
        return False
    return tenant_id is None or entry.get("tenant_id") in (None, tenant_id)


def figures_from_export(entries: Iterator[Mapping[str, Any]], tenant_id: str | None,
                        since: datetime, until: datetime) -> dict[str, Any]:
    tally = Tally()
    for entry in entries:
        if not entry_in_scope(entry, tenant_id, since, until):
            continue
        when = datetime.fromisoformat(str(entry["occurred_at"]).replace("Z", "+00:00"))
        tally.add(id=str(entry["id"]), occurred_at=utc_text(when),
                  mailbox_id=entry.get("mailbox_id"), actor_kind=entry["actor_kind"],
                  actor_id=entry["actor_id"], operation=entry["operation"],
                  action=entry["action"], purpose=entry["purpose"],
                  decision=entry["decision"], reasons=entry["reasons"],
                  detail=entry.get("detail") or {}, resource_ids=entry["resource_ids"])
    return tally.figures()


def verification(session: Session, trusted: TrustedKeys) -> dict[str, Any]:
    """`audit verify` over the whole log, as the report states it."""
    report = verify(session, trusted)
    data = report.to_dict()
    return {"ok": report.ok, "entries_checked": report.entries, "chains": report.shards,
            "checkpoints": report.checkpoints, "anchors": report.anchors,
            "unsigned_tail": data["unsigned_tail"], "trusted_key_ids": trusted.key_ids,
            "first_problem": data["first_problem"], "problems": len(report.problems),
            "seconds": data["seconds"]}
