"""The one enforcement point. Every access to mailbox data asks the policy engine here, writes the
decision to the operation log, and only an allow mints the `Access` capability that the encrypted
store requires to decrypt. A decision that does not carry the policy revision the gateway runs is
refused (503 `policy_revision_mismatch`) and the refusal logged (`decision=error`). A deny (and
an allow for an action Google carries out, and a refusal) is committed on its own before the call
returns, so a rollback cannot erase it (`OperationLog.append_committed`: on PostgreSQL concurrent
requests of a process share one commit); an engine or log failure refuses the request (503)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from gateway.audit.writer import LogRecord, OperationLog, OperationLogUnavailable
from gateway.kit.db import Database
from gateway.kit.errors import PolicyDenied, Unavailable
from gateway.kit.ids import uuid_or_none
from gateway.kit.timeutil import now_ns, utc_text
from gateway.policy.contract import (
    Decision,
    PolicyEngine,
    PolicyEngineUnavailable,
    PolicyRevisionMismatch,
)
from gateway.policy.vocabulary import Action

log = logging.getLogger(__name__)

_MINT = object()


@dataclass(frozen=True)
class Actor:
    kind: str
    id: str
    tenant: str
    groups: tuple[str, ...] = ()
    connection_id: str = ""


@dataclass(frozen=True)
class Terminal:
    """Where the request came from, as the caller's terminal identified itself."""

    request_id: str
    protocol: str
    client_ip: str | None = None
    user_agent: str | None = None
    device_id: str | None = None


@dataclass(frozen=True)
class Resource:
    type: str
    tenant: str | None
    mailbox: str | None = None
    owner: str | None = None
    ids: tuple[str, ...] = ()
    thread_id: str | None = None
    fields: tuple[str, ...] = ()
    mailbox_state: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolved:
    """What a route's resolver found: the resource, and the consent grant or recorded
    justification that applies to this actor for it (if any)."""

    resource: Resource
    grant: Mapping[str, Any] | None = None
    justification: Mapping[str, Any] | None = None
    aggregate: Mapping[str, Any] | None = None
    transfer: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class AccessRequest:
    actor: Actor
    purpose: str
    action: str
    resource: Resource
    terminal: Terminal
    grant: Mapping[str, Any] | None = None
    justification: Mapping[str, Any] | None = None
    transfer: Mapping[str, Any] | None = None
    aggregate: Mapping[str, Any] | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


class Access:
    """Proof that the enforcement point allowed this request. Only `Enforcer` can mint one."""

    __slots__ = ("decision", "request")

    def __init__(self, token: object, request: AccessRequest, decision: Decision) -> None:
        if token is not _MINT or not decision.allow:
            raise PermissionError("Access is minted only by the enforcement point on an allow")
        self.request = request
        self.decision = decision

    def covers(self, *, tenant: str, mailbox: str | None) -> bool:
        res = self.request.resource
        return res.tenant == tenant and (mailbox is None or res.mailbox == mailbox)

    def covers_mailbox(self, *, tenant: str, mailbox: str) -> bool:
        """Whether this decision reaches the data of `mailbox` in `tenant`: the decision named
        that very mailbox, or it was a tenant-wide listing (`TENANT_WIDE_ACTIONS`) in that
        tenant, whose route selects only the mailboxes the actor may list. What
        `CryptoService.open_content` checks before it opens anything."""
        res = self.request.resource
        if res.tenant != tenant:
            return False
        if res.mailbox is None:
            return self.request.action in TENANT_WIDE_ACTIONS
        return res.mailbox == mailbox


def operation_name(action: str) -> str:
    """Typed operation names for the log: `mail.message.read` → `mail:message:read`."""
    return action.replace(".", ":")


def build_policy_input(req: AccessRequest, *, min_cohort: int) -> dict[str, Any]:
    res = req.resource
    return {
        "actor": {"kind": req.actor.kind, "id": req.actor.id, "tenant": req.actor.tenant,
                  "groups": list(req.actor.groups)},
        "purpose": req.purpose,
        "action": req.action,
        "resource": {"tenant": res.tenant, "mailbox": res.mailbox, "owner": res.owner,
                     "type": res.type, "ids": list(res.ids), "thread_id": res.thread_id,
                     "fields": list(res.fields)},
        "mailbox_state": res.mailbox_state,
        "scopes": list(res.scopes),
        "grant": dict(req.grant) if req.grant is not None else None,
        "justification": dict(req.justification) if req.justification is not None else None,
        "transfer": dict(req.transfer) if req.transfer is not None else None,
        "aggregate": dict(req.aggregate) if req.aggregate is not None else None,
        "settings": {"min_cohort": min_cohort},
        "now_ns": now_ns(),
    }


def _expiry(basis: Mapping[str, Any]) -> str | None:
    """When a grant or justification ends (ISO 8601 UTC), from its `expires_at_ns`."""
    ns = basis.get("expires_at_ns")
    if type(ns) is not int:
        return None
    return utc_text(datetime.fromtimestamp(ns // 1_000_000_000, UTC)
                    + timedelta(microseconds=(ns % 1_000_000_000) // 1000))


def review_detail(req: AccessRequest, decision: Decision, *,
                  min_cohort: int | None = None) -> dict[str, Any]:
    """What reviewers need in the log entry of a human access: the justification (id, kind, case
    reference) or grant it was decided under and when it ends, and the policy's
    `flag_for_review` obligation (docs/policy.md, obligations); for an aggregate, its cohort
    size, grouping and k. Ids, case references and counts only, never the reason text."""
    detail: dict[str, Any] = {}
    if req.justification is not None:
        detail["justification"] = {key: str(req.justification.get(key) or "")
                                   for key in ("id", "kind", "case_ref")}
        detail["justification_expires_at"] = _expiry(req.justification)
    if req.grant is not None:
        detail["grant_id"] = str(req.grant.get("id") or "")
        detail["grant_expires_at"] = _expiry(req.grant)
    if req.aggregate is not None:
        detail["aggregate"] = {"cohort_size": req.aggregate.get("cohort_size"),
                               "group_keys": list(req.aggregate.get("group_keys") or []),
                               "min_cohort": min_cohort}
    if decision.allow and decision.obligations.get("flag_for_review") is True:
        detail["flag_for_review"] = True
    return detail


# Actions whose effect happens at Google, outside the gateway's database. Their allow entry is
# committed on its own before the handler reaches Gmail: a later rollback of the request (a
# failure after Gmail acted) must not erase the record of an operation that may have happened.
UPSTREAM_EFFECT_ACTIONS = frozenset({
    Action.message_send.value, Action.message_modify.value, Action.message_delete.value,
    Action.draft_write.value, Action.label_modify.value,
})

# Reads of the gateway's store that change nothing in its database. Their allow entry is also
# committed on its own, before the handler reads anything (durable before data is even loaded,
# not only before the response leaves), and on PostgreSQL concurrent reads of a process share
# that commit (group commit). An allow whose request then fails (a 404 after the decision, a
# client gone) stays logged: the access was decided, which is what the entry says. Writes to the
# gateway's own database keep their allow in the request's transaction, with the change.
STORE_READ_ACTIONS = frozenset({
    Action.mailbox_list.value, Action.mailbox_read.value, Action.message_list.value,
    Action.message_read_metadata.value, Action.message_read_content.value,
    Action.thread_read_metadata.value, Action.thread_read_content.value,
    Action.attachment_read.value, Action.contact_timeline.value,
})

# A compliance report reads the whole period's log: its allow is durable before it starts.
OWN_COMMIT_ACTIONS = (UPSTREAM_EFFECT_ACTIONS | STORE_READ_ACTIONS
                      | frozenset({Action.compliance_report.value}))

# Decisions about a tenant's mailboxes as a set (their resource names the tenant, and the owner
# for an end user, but no mailbox): their Access covers each mailbox the route then selects.
TENANT_WIDE_ACTIONS = frozenset({Action.mailbox_list.value})


class Enforcer:
    def __init__(self, engine: PolicyEngine, oplog: OperationLog, database: Database, *,
                 min_cohort: int) -> None:
        self.engine = engine
        self.oplog = oplog
        self.database = database
        self.min_cohort = min_cohort
        self.on_decision: list[Any] = []  # metrics hooks: callables(decision_outcome: str)

    def authorize(self, session: Session, req: AccessRequest) -> Access:
        """Decide, log, and return an Access on allow; raise PolicyDenied or Unavailable."""
        try:
            decision = self.engine.decide(build_policy_input(req, min_cohort=self.min_cohort))
        except PolicyRevisionMismatch as exc:
            log.error("refused a decision of policy revision %s (expected %s) for %s",
                      exc.received, exc.expected, req.action)
            self._notify("unavailable")
            self._record_refusal(req, "policy_revision_mismatch", revision="mismatch",
                                 detail={"received_revision": exc.received or "",
                                         "engine": exc.engine})
            raise Unavailable("the policy engine answered with a decision of another policy "
                              "revision; nothing was served",
                              code="policy_revision_mismatch") from None
        except PolicyEngineUnavailable:
            log.warning("policy engine unavailable; refusing %s", req.action)
            self._notify("unavailable")
            self._record_refusal(req, "policy_engine_unavailable")
            raise Unavailable("the policy engine is unavailable; nothing was served",
                              code="policy_engine_unavailable") from None
        self._notify("allow" if decision.allow else "deny")
        record = self._record(req, decision)
        if not decision.allow:
            try:
                self.oplog.append_committed(self.database, record)
            except OperationLogUnavailable:
                raise Unavailable("the operation log is unavailable; nothing was served",
                                  code="operation_log_unavailable") from None
            raise PolicyDenied(decision.reasons, extra={"policy_revision": decision.revision})
        try:
            if req.action in OWN_COMMIT_ACTIONS:
                self.oplog.append_committed(self.database, record)
            else:
                self.oplog.append(session, record)
        except OperationLogUnavailable:
            raise Unavailable("the operation log is unavailable; nothing was served",
                              code="operation_log_unavailable") from None
        return Access(_MINT, req, decision)

    def _notify(self, outcome: str) -> None:
        for hook in self.on_decision:
            hook(outcome)

    def _record(self, req: AccessRequest, decision: Decision) -> LogRecord:
        record = self._log_record(req, "allow" if decision.allow else "deny", decision.reasons,
                                  decision.revision)
        extra = review_detail(req, decision, min_cohort=self.min_cohort)
        return replace(record, detail={**record.detail, **extra}) if extra else record

    def _record_refusal(self, req: AccessRequest, reason: str, *, revision: str = "unavailable",
                        detail: Mapping[str, Any] | None = None) -> None:
        """Best effort: an engine outage is worth logging, but the refusal stands either way."""
        record = self._log_record(req, "error", (reason,), revision)
        if detail:
            record = replace(record, detail={**record.detail, **detail})
        try:
            self.oplog.append_committed(self.database, record)
        except Exception:  # noqa: BLE001 - the request is refused regardless
            log.warning("could not log a refusal for %s", req.action)

    def _log_record(self, req: AccessRequest, decision: str, reasons: tuple[str, ...],
                    revision: str) -> LogRecord:
        res = req.resource
        term = req.terminal
        return LogRecord(
            request_id=term.request_id, actor_kind=req.actor.kind, actor_id=req.actor.id,
            connection_id=req.actor.connection_id, protocol=term.protocol,
            operation=operation_name(req.action), action=req.action, purpose=req.purpose,
            decision=decision, reasons=reasons, policy_revision=revision,
            tenant_id=uuid_or_none(res.tenant), mailbox_id=uuid_or_none(res.mailbox),
            client_ip=term.client_ip, user_agent=term.user_agent, device_id=term.device_id,
            resource_type=res.type, resource_ids=res.ids, detail=dict(req.detail),
        )
