"""`gmail-gateway justifications ...`: record, list and revoke justifications from the admin CLI
(for a case opened outside office hours, or before the reviewer has an API key at hand).

    justifications record --tenant T --mailbox M --recorded-by REVIEWER
                          (--operator ID | --operator-group G) --kind security|legal
                          --case-ref SEC-2026-0042 --reason TEXT --expires-in-minutes N
                          [--message ID]... [--thread ID]...
    justifications list --tenant T [--mailbox M] [--operator ID] [--case-ref C]
                        [--status active|expired|revoked] [--with-reason]
    justifications revoke --tenant T --revoked-by REVIEWER ID

The same rules as the API: the recorder/revoker must be a reviewer principal of the tenant, the
expiry at most GATEWAY_JUSTIFICATION_MAX_HOURS. Record and revoke are written to the operation
log (actor `system:justifications-cli`, naming the reviewer in the entry's detail).
The main CLI (`gateway/cli.py`) calls `add_commands(subparsers)`.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from gateway.kit.errors import ValidationFailed
from gateway.settings import Settings

JOB = "justifications-cli"


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an id: {raw!r}") from None


def _run(settings: Settings, work: Callable[[Session, Any], Any]) -> Any:
    from gateway.runtime import build_runtime

    with build_runtime(settings) as runtime, runtime.database.transaction() as session:
        return work(session, runtime.crypto)


def _summary(justification: Any, reason: str | None = None) -> dict[str, Any]:
    from gateway.justifications.service import status_of

    out = {"id": justification.id, "mailbox_id": justification.mailbox_id,
           "operator_id": justification.operator_principal_id,
           "operator_group": justification.operator_group, "kind": justification.kind,
           "case_ref": justification.case_ref, "message_ids": justification.message_ids,
           "thread_ids": justification.thread_ids, "recorded_by": justification.recorded_by,
           "created_at": justification.created_at, "expires_at": justification.expires_at,
           "revoked_at": justification.revoked_at, "revoked_by": justification.revoked_by,
           "status": status_of(justification)}
    if reason is not None:
        out["reason"] = reason
    return out


def _log(session: Session, operation: str, justification: Any, by: uuid.UUID) -> None:
    from gateway.audit.writer import log_system_operation

    log_system_operation(
        session, operation, job=JOB, purpose=justification.kind,
        tenant_id=justification.tenant_id, mailbox_id=justification.mailbox_id,
        resource_type="justification", resource_ids=(str(justification.id),),
        detail={"by_reviewer": str(by), "justification": {
            "id": str(justification.id), "kind": justification.kind,
            "case_ref": justification.case_ref}})


def cmd_record(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service as accounts
    from gateway.justifications import service
    from gateway.justifications.schemas import JustificationCreate

    try:
        body = JustificationCreate(
            kind=args.kind, case_ref=args.case_ref, reason=args.reason,
            operator_id=args.operator, operator_group=args.operator_group,
            message_ids=args.message or [], thread_ids=args.thread or [],
            expires_in_minutes=args.expires_in_minutes)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors())
        raise ValidationFailed(f"invalid justification: {fields}") from None

    def work(session: Session, crypto: Any) -> Any:
        tenant = accounts.get_tenant(session, args.tenant)
        mailbox = service.mailbox_of_tenant(session, tenant.id, args.mailbox)
        justification = service.record(session, crypto, mailbox, body,
                                       recorded_by=args.recorded_by,
                                       max_hours=settings.justification_max_hours)
        _log(session, "justification:record", justification, args.recorded_by)
        return _summary(justification)

    _print(_run(settings, work))
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service as accounts
    from gateway.justifications import service

    def work(session: Session, crypto: Any) -> Any:
        tenant = accounts.get_tenant(session, args.tenant)
        found = service.listing(session, tenant.id, mailbox_id=args.mailbox,
                                operator_id=args.operator, case_ref=args.case_ref,
                                status=args.status, limit=args.limit)
        return [_summary(j, service.reason_text(session, crypto, j) if args.with_reason
                         else None) for j in found]

    _print(_run(settings, work))
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service as accounts
    from gateway.justifications import service

    def work(session: Session, crypto: Any) -> Any:
        tenant = accounts.get_tenant(session, args.tenant)
        justification = service.get(session, tenant.id, args.justification)
        already = justification.revoked_at is not None
        service.revoke(session, justification, revoked_by=args.revoked_by)
        if not already:
            _log(session, "justification:revoke", justification, args.revoked_by)
        return _summary(justification)

    _print(_run(settings, work))
    return 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser(
        "justifications", help="security/legal justifications for human access").add_subparsers(
        dest="justifications_command", required=True)

    rec = group.add_parser("record", help="record a justification (as a reviewer)")
    rec.add_argument("--tenant", required=True, help="tenant slug or id")
    rec.add_argument("--mailbox", required=True, type=_uuid, help="mailbox id")
    rec.add_argument("--recorded-by", required=True, type=_uuid,
                     help="the reviewer principal accountable for it")
    who = rec.add_mutually_exclusive_group(required=True)
    who.add_argument("--operator", type=_uuid, help="operator principal id")
    who.add_argument("--operator-group", help="operator group")
    rec.add_argument("--kind", required=True, choices=["security", "legal"])
    rec.add_argument("--case-ref", required=True, help="e.g. SEC-2026-0042")
    rec.add_argument("--reason", required=True, help="why (stored sealed)")
    rec.add_argument("--expires-in-minutes", required=True, type=int)
    rec.add_argument("--message", action="append", help="limit to this message id (repeatable)")
    rec.add_argument("--thread", action="append", help="limit to this thread id (repeatable)")
    rec.set_defaults(handler=cmd_record)

    lst = group.add_parser("list", help="list a tenant's justifications, newest first")
    lst.add_argument("--tenant", required=True)
    lst.add_argument("--mailbox", type=_uuid)
    lst.add_argument("--operator", type=_uuid)
    lst.add_argument("--case-ref")
    lst.add_argument("--status", choices=["active", "expired", "revoked"])
    lst.add_argument("--limit", type=int, default=200)
    lst.add_argument("--with-reason", action="store_true", help="decrypt and show the reasons")
    lst.set_defaults(handler=cmd_list)

    rev = group.add_parser("revoke", help="revoke a justification (as a reviewer)")
    rev.add_argument("--tenant", required=True)
    rev.add_argument("--revoked-by", required=True, type=_uuid, help="reviewer principal id")
    rev.add_argument("justification", help="justification id")
    rev.set_defaults(handler=cmd_revoke)
