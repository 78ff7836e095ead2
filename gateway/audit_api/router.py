"""The reviewer API (v1): query, export and verify the operation log.

Every route is guarded (`audit.query` / `audit.verify` on a resource of type `audit_log`),
so a reviewer's own queries are logged like any other access. Results are always limited to
the caller's tenant. Two resource shapes let the policy tell the audiences apart:
- `/v1/audit/...`: the tenant's whole log; the resource names no owner (reviewers);
- `/v1/mailboxes/{mailbox_id}/access-log`: one mailbox's entries; the resource carries the
  mailbox owner, so the policy can let an end user read who accessed *their* mailbox (the
  terminal and connection fields are withheld from anyone but a reviewer).

Reads use their own transaction (the runtime's database, a replica could serve them), so the
request's uncommitted entry for this very query is not part of its answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Literal

from annotated_types import Ge, Le
from fastapi import Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller
from gateway.audit import repository
from gateway.audit.repository import AuditFilter
from gateway.audit.schemas import (
    AuditEntryOut,
    AuditPage,
    CheckpointOut,
    CheckpointRequestOut,
    VerifyOut,
    csv_lines,
    jsonl_lines,
)
from gateway.audit.signing import load_trusted_keys
from gateway.audit.verify import verify
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.kit.db import Database
from gateway.kit.strict import DIGITS, Instant, QueryFlag
from gateway.kit.timeutil import utcnow
from gateway.mailboxes.resolvers import load_mailbox
from gateway.policy.enforcement import Access, Resource
from gateway.policy.resources import mailbox_bound
from gateway.policy.vocabulary import Action, ActorKind
from gateway.runtime import runtime_of
from gateway.settings import Settings

router = GuardedRouter(prefix="/v1", tags=["audit"])

RESOURCE_TYPE = "audit_log"
Decision = Literal["allow", "deny", "error"]
ExportFormat = Literal["jsonl", "csv"]
_MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


def _uuid_or_none(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None  # the route's own validation answers 422


def tenant_log_resource(_session: Session, caller: Caller, request: Request) -> Resource:
    mailbox = _uuid_or_none(request.query_params.get("mailbox_id"))
    return Resource(type=RESOURCE_TYPE, tenant=str(caller.tenant_id),
                    mailbox=str(mailbox) if mailbox else None,
                    ids=(str(mailbox),) if mailbox else ())


def mailbox_log_resource(session: Session, caller: Caller, request: Request) -> Resource:
    mailbox = load_mailbox(session, caller, request.path_params["mailbox_id"])
    return mailbox_bound(mailbox, RESOURCE_TYPE, ids=(str(mailbox.id),), with_state=False)


class _Filters:
    """The query parameters every listing and export accepts."""

    def __init__(
        self,
        actor_id: Annotated[str | None, Query(max_length=64)] = None,
        actor_kind: Annotated[ActorKind | None, Query()] = None,
        action: Annotated[Action | None, Query()] = None,
        operation: Annotated[str | None, Query(max_length=64)] = None,
        decision: Annotated[Decision | None, Query()] = None,
        purpose: Annotated[str | None, Query(max_length=64)] = None,
        since: Annotated[Instant | None, Query(description="inclusive, ISO 8601")] = None,
        until: Annotated[Instant | None, Query(description="exclusive, ISO 8601")] = None,
        flagged: Annotated[QueryFlag | None, Query(
            description="true: only entries flagged for review (security/legal access)")] = None,
    ) -> None:
        self.actor_id = actor_id
        self.actor_kind = actor_kind.value if actor_kind else None
        self.action = action.value if action else None
        self.operation = operation
        self.decision = decision
        self.purpose = purpose
        self.since = _utc(since)
        self.until = _utc(until)
        self.flagged = flagged

    def build(self, tenant: str, mailbox: uuid.UUID | None) -> AuditFilter:
        return AuditFilter(tenant_id=uuid.UUID(tenant), mailbox_id=mailbox,
                           actor_id=self.actor_id, actor_kind=self.actor_kind,
                           action=self.action, operation=self.operation,
                           decision=self.decision, purpose=self.purpose,
                           since=self.since, until=self.until, flagged=self.flagged)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


FiltersDep = Annotated[_Filters, Depends()]
Limit = Annotated[int, Ge(1), Le(repository.MAX_PAGE), DIGITS, Query()]
Cursor = Annotated[str | None, Query(max_length=512)]


def _database(request: Request) -> Database:
    database: Database = runtime_of(request).database
    return database


def _is_reviewer(access: Access) -> bool:
    return access.request.actor.kind == ActorKind.reviewer.value


def entries_page(request: Request, access: Access, query: AuditFilter, limit: int,
                 cursor: str | None) -> AuditPage:
    """One page of the entries `query` selects, newest first, read in its own transaction."""
    with _database(request).transaction() as session:
        rows, next_cursor = repository.page(session, query, limit=limit, cursor=cursor)
        redact = not _is_reviewer(access)
        return AuditPage(items=[AuditEntryOut.of(r, redact_terminal=redact) for r in rows],
                         next_cursor=next_cursor)


def export_response(request: Request, access: Access, query: AuditFilter, fmt: ExportFormat,
                    name: str) -> StreamingResponse:
    """The entries `query` selects, streamed as a JSON Lines or CSV download (the terminal
    fields withheld from anyone but a reviewer)."""
    database = _database(request)
    redact = not _is_reviewer(access)

    def entries() -> Iterator[AuditEntryOut]:
        with database.transaction() as session:
            for entry in repository.iterate(session, query):
                yield AuditEntryOut.of(entry, redact_terminal=redact)

    body = jsonl_lines(entries()) if fmt == "jsonl" else csv_lines(entries())
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(body, media_type=_MEDIA[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}-{stamp}.{fmt}"'})


def list_entries(request: Request, access: AccessDep, filters: FiltersDep,
                 mailbox_id: uuid.UUID | None = None, limit: Limit = 100,
                 cursor: Cursor = None) -> AuditPage:
    query = filters.build(access.request.actor.tenant, mailbox_id)
    return entries_page(request, access, query, limit, cursor)


def export_entries(request: Request, access: AccessDep, filters: FiltersDep,
                   mailbox_id: uuid.UUID | None = None,
                   format: ExportFormat = "jsonl") -> StreamingResponse:
    query = filters.build(access.request.actor.tenant, mailbox_id)
    return export_response(request, access, query, format, "audit-log")


def export_checkpoints(request: Request, access: AccessDep) -> StreamingResponse:
    """Every signed checkpoint (chain positions and hashes only: nothing of any tenant), for an
    independent verifier (`tools/verify_log.py`)."""
    database = _database(request)

    def rows() -> Iterator[CheckpointOut]:
        with database.transaction() as session:
            for cp in repository.checkpoints(session):
                yield CheckpointOut.of(cp)

    return StreamingResponse(jsonl_lines(rows()), media_type=_MEDIA["jsonl"])


def request_checkpoint(request: Request, access: AccessDep) -> CheckpointRequestOut:
    """Sign every chain's unsigned tail now (a reviewer about to verify or export need not wait
    for the window). Logged twice: this guarded request, and `audit:checkpoint:requested`."""
    from gateway.audit.checkpoints import sign_now
    from gateway.kit.errors import Unavailable

    policy = runtime_of(request).enforcer.oplog.checkpoints
    if policy is None:
        raise Unavailable("this gateway signs no checkpoints", code="checkpoints_unavailable")
    with _database(request).independent_session() as session:  # SQLite: joins the request's
        signed = sign_now(session, policy, requested_by=access.request.actor.id)
    return CheckpointRequestOut(signed=signed)


def verify_log(request: Request, access: AccessDep,
               since: Annotated[Instant | None, Query()] = None,
               until: Annotated[Instant | None, Query()] = None) -> VerifyOut:
    settings: Settings = runtime_of(request).settings
    with _database(request).transaction() as session:
        report = verify(session, load_trusted_keys(settings), since=_utc(since),
                        until=_utc(until))
    out = report.to_dict()
    tenant = access.request.actor.tenant
    problems = [p for p in [out["first_problem"], *out["problems"]] if p]
    for problem in problems:  # as the API spells an id (SQLite's scan reads 32 hex digits)
        problem["entry_id"] = _canonical_id(problem["entry_id"])
    # Entry ids of other tenants are not this reviewer's to see: positions are enough.
    allowed_ids = _ids_in_tenant(request, tenant, [p["entry_id"] for p in out["problems"]])
    for problem in problems:
        if problem["entry_id"] not in allowed_ids:
            problem["entry_id"] = None
    return VerifyOut.model_validate(out)


def _canonical_id(raw: str | None) -> str | None:
    try:
        return str(uuid.UUID(raw)) if raw else None
    except ValueError:
        return None


def _ids_in_tenant(request: Request, tenant: str, ids: list[str | None]) -> set[str]:
    wanted = [uuid.UUID(i) for i in ids if i]
    if not wanted:
        return set()
    from sqlalchemy import select

    from gateway.audit.models import AuditEntry

    with _database(request).transaction() as session:
        found = session.scalars(select(AuditEntry.id).where(
            AuditEntry.id.in_(wanted), AuditEntry.tenant_id == uuid.UUID(tenant)))
        return {str(i) for i in found}


def mailbox_access_log(mailbox_id: str, request: Request, access: AccessDep,
                       filters: FiltersDep, limit: Limit = 100,
                       cursor: Cursor = None) -> AuditPage:
    mailbox = uuid.UUID(str(access.request.resource.mailbox))
    query = filters.build(access.request.actor.tenant, mailbox)
    return entries_page(request, access, query, limit, cursor)


def mailbox_access_log_export(mailbox_id: str, request: Request, access: AccessDep,
                              filters: FiltersDep,
                              format: ExportFormat = "jsonl") -> StreamingResponse:
    mailbox = uuid.UUID(str(access.request.resource.mailbox))
    query = filters.build(access.request.actor.tenant, mailbox)
    return export_response(request, access, query, format, f"access-log-{mailbox}")


_EXPORT_RESPONSES = {200: {"content": {"application/x-ndjson": {}, "text/csv": {}},
                           "description": "the entries, newest first, streamed"}}

router.add("GET", "/audit/entries", list_entries, action=Action.audit_query,
           resource=tenant_log_resource, response_model=AuditPage,
           summary="Query the tenant's operation log (reviewers)")
router.add("GET", "/audit/entries/export", export_entries, action=Action.audit_query,
           resource=tenant_log_resource, response_class=StreamingResponse,
           responses=_EXPORT_RESPONSES, summary="Export the operation log as JSON Lines or CSV")
router.add("GET", "/audit/checkpoints", export_checkpoints, action=Action.audit_verify,
           resource=tenant_log_resource, response_class=StreamingResponse,
           responses={200: {"content": {"application/x-ndjson": {}},
                            "description": "the signed checkpoints, by chain and position"}},
           summary="Export the signed checkpoints (JSON Lines) for an independent verifier")
router.add("POST", "/audit/checkpoints", request_checkpoint, action=Action.audit_verify,
           resource=tenant_log_resource, response_model=CheckpointRequestOut,
           summary="Sign every chain's unsigned tail now (reviewers)")
router.add("GET", "/audit/verify", verify_log, action=Action.audit_verify,
           resource=tenant_log_resource, response_model=VerifyOut,
           summary="Recompute the hash chains and check the signatures")
router.add("GET", "/mailboxes/{mailbox_id}/access-log", mailbox_access_log,
           action=Action.audit_query, resource=mailbox_log_resource, response_model=AuditPage,
           summary="Who accessed this mailbox: its operation-log entries")
router.add("GET", "/mailboxes/{mailbox_id}/access-log/export", mailbox_access_log_export,
           action=Action.audit_query, resource=mailbox_log_resource,
           response_class=StreamingResponse, responses=_EXPORT_RESPONSES,
           summary="Export this mailbox's operation-log entries")
