"""The lookup the mailbox resolvers call (a service of the app's runtime,
gateway.mailboxes.resolvers.HumanAccessLookups): which justification applies to an operator's
security or legal access, as policy input (`Resolved.justification`).

- With a `Gateway-Justification: <id>` header, exactly that justification (of the caller's
  tenant) is passed, whatever it says: the policy then refuses it with the precise reason
  (`justification_not_for_resource` for another mailbox, `_not_for_operator`, `_revoked`,
  `_expired`, `justification_required` for another kind). An unknown or malformed id passes
  nothing (`justification_required`) rather than a 404, so the attempt is still decided and
  logged as a denial and ids are not confirmed. The header lets an operator working several
  cases say which one an access belongs to.
- Without it, the gateway picks: a live justification of the purpose's kind for this operator
  (or one of their groups) and this mailbox that covers the requested messages/thread; failing
  that the most recent one that would have covered them (expired or revoked, so the policy says
  which), then the most recent one for this operator and mailbox (`_not_for_resource`).

Only a few facts go into the input, never the store (docs/policy.md: decisions stay cheap).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller
from gateway.justifications.models import Justification
from gateway.justifications.service import JUSTIFIED_PURPOSES, status_of
from gateway.kit.ids import uuid_or_none
from gateway.kit.timeutil import to_ns, utcnow
from gateway.policy.enforcement import Resource
from gateway.policy.vocabulary import ActorKind

JUSTIFICATION_HEADER = "Gateway-Justification"
_CANDIDATES = 200


def justification_input(justification: Justification) -> dict[str, Any]:
    operator = justification.operator_principal_id
    return {"id": str(justification.id), "kind": justification.kind,
            "case_ref": justification.case_ref,
            "operator": str(operator) if operator is not None else "",
            "operator_group": justification.operator_group,
            "mailbox": str(justification.mailbox_id),
            "message_ids": list(justification.message_ids or []),
            "thread_ids": list(justification.thread_ids or []),
            "expires_at_ns": to_ns(justification.expires_at),
            "revoked": justification.revoked_at is not None}


def _for_actor(justification: Justification, operator_id: uuid.UUID,
               groups: Iterable[str]) -> bool:
    if justification.operator_principal_id is not None:
        return justification.operator_principal_id == operator_id
    return justification.operator_group is not None and justification.operator_group in groups


def _covers(justification: Justification, ids: tuple[str, ...], thread_id: str | None) -> bool:
    messages, threads = justification.message_ids or [], justification.thread_ids or []
    if not messages and not threads:
        return True
    return (bool(ids) and set(ids) <= set(messages)) or (
        thread_id is not None and thread_id in threads)


def applicable_justification(session: Session, mailbox_id: uuid.UUID, operator_id: uuid.UUID,
                             groups: Iterable[str], kind: str, ids: tuple[str, ...],
                             thread_id: str | None) -> dict[str, Any] | None:
    group_list = list(groups)
    candidates = session.scalars(
        select(Justification).where(Justification.mailbox_id == mailbox_id,
                                    Justification.kind == kind)
        .order_by(Justification.created_at.desc(), Justification.id).limit(_CANDIDATES))
    at = utcnow()
    covering: Justification | None = None
    elsewhere: Justification | None = None
    for justification in candidates:
        if not _for_actor(justification, operator_id, group_list):
            continue
        if not _covers(justification, ids, thread_id):
            elsewhere = elsewhere or justification
            continue
        if status_of(justification, at) == "active":
            return justification_input(justification)
        covering = covering or justification
    best = covering or elsewhere
    return justification_input(best) if best is not None else None


def justification_for(session: Session, caller: Caller, request: Request,
                      resource: Resource) -> dict[str, Any] | None:
    """The justification to put into the policy input, or None (not an operator, not a security
    or legal purpose, or nothing recorded)."""
    if caller.kind != ActorKind.operator or resource.mailbox is None:
        return None
    purpose = getattr(request.state, "purpose", None)
    if purpose not in JUSTIFIED_PURPOSES:
        return None
    named = request.headers.get(JUSTIFICATION_HEADER)
    if named is not None:
        justification_id = uuid_or_none(named.strip())
        found = session.get(Justification, justification_id) if justification_id else None
        if found is None or found.tenant_id != caller.tenant_id:
            return None
        return justification_input(found)
    mailbox_id = uuid_or_none(resource.mailbox)
    if mailbox_id is None:
        return None
    return applicable_justification(session, mailbox_id, caller.principal_id, caller.groups,
                                    str(purpose), resource.ids, resource.thread_id)
