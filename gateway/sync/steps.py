"""The machinery every step of a mailbox sync runs on, apart from the order of the steps
(gateway/sync/engine.py decides that): the Gmail client of the claimed mailbox, the fenced
checkpoint that moves the client's units and calls into the state row, the stop check,
and the fetch-and-store pipeline of message batches shared by the full sync (`full_batch`) and
the incremental sync (`history_fetch`).

A step is one transaction: the enforcement point's decision and its operation-log entry
(`SyncGate`), the Gmail calls, the store writes (`SyncWriter`, only with that decision) and the
checkpoint (`fence`, the lease re-checked) commit together or not at all. The batch pipeline
fetches batch n+1 on one helper thread while batch n is parsed, sealed and stored; each batch's
allow is logged and committed before Gmail is called.

Retries, rate-limit answers and 5xx answers are written to the state row when they happen, each
in its own small transaction (`note`), and counted in the metrics: a step that fails after a
storm of 429s leaves them visible. Units and calls move with each step's checkpoint, only once
it committed; what a failed run spent after its last checkpoint goes in with its release
(`unrecorded`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, load_only

from gateway.crypto import CryptoService
from gateway.gmail.client import GmailClient
from gateway.gmail.errors import GmailError, describe, error_kind
from gateway.gmail.quota import BudgetRegistry, MovingWindowBudget
from gateway.gmail.retry import RetryPolicy
from gateway.kit.db import Database
from gateway.kit.timeutil import utcnow
from gateway.mail.models import Message
from gateway.mail.store.repository import IncomingMessage, MessageStore
from gateway.mailboxes.gmail_access import gmail_for
from gateway.mailboxes.models import Mailbox
from gateway.policy.enforcement import Access, Enforcer
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.sync import gmail_ops
from gateway.sync.gate import SyncGate, SyncWriter
from gateway.sync.metrics import SyncMetrics
from gateway.sync.models import MailboxSync, SyncPhase
from gateway.sync.repository import Claim, fence, note

log = logging.getLogger(__name__)


class StopRequested(Exception):
    """The worker is shutting down; the checkpoint is kept and the lease given back."""


@dataclass
class SyncServices:
    database: Database
    crypto: CryptoService
    settings: Settings
    enforcer: Enforcer
    store: MessageStore
    budgets: BudgetRegistry
    retry: Callable[[], RetryPolicy]
    metrics: SyncMetrics = field(default_factory=SyncMetrics)

    @classmethod
    def from_runtime(cls, runtime: Runtime, metrics: SyncMetrics | None = None) -> SyncServices:
        """The sync's services on the process's runtime: its database, crypto, enforcer and
        message store (a `MessageStore` among the runtime's domain services)."""
        return build_services(runtime.settings, runtime.database, runtime.crypto,
                              runtime.enforcer, runtime.service(MessageStore), metrics)


def build_services(settings: Settings, database: Database, crypto: CryptoService,
                   enforcer: Enforcer, store: MessageStore | None = None,
                   metrics: SyncMetrics | None = None) -> SyncServices:
    def budget() -> MovingWindowBudget:
        return MovingWindowBudget(settings.sync_quota_units_per_minute,
                                  window_seconds=settings.sync_quota_window_seconds,
                                  target=settings.sync_quota_target)

    def retry() -> RetryPolicy:
        return RetryPolicy(max_attempts=settings.sync_retry_attempts,
                           base_seconds=settings.sync_retry_base_seconds,
                           cap_seconds=settings.sync_retry_cap_seconds)

    return SyncServices(database=database, crypto=crypto, settings=settings, enforcer=enforcer,
                        store=store or MessageStore(crypto), budgets=BudgetRegistry(budget),
                        retry=retry, metrics=metrics or SyncMetrics())


def _internal_date(resource: dict[str, Any]) -> datetime | None:
    value = resource.get("internalDate")
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value is not None else None


class SyncSteps:
    """One claimed mailbox's connection, checkpoint and batch pipeline; `MailboxSyncRun`
    (gateway/sync/engine.py) builds the full and incremental sync from these steps."""

    def __init__(self, services: SyncServices, claim: Claim,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.s = services
        self.claim = claim
        self.should_stop = should_stop
        self.gate = SyncGate(services.enforcer)
        self.writer = SyncWriter(services.store)
        self.retry = services.retry()
        self.client: GmailClient | None = None
        self._units_recorded = 0
        self._calls_recorded = 0
        self._events = threading.Lock()  # the prefetch thread reports retries too
        self._pending: dict[str, int] = {}  # retry/error counts not yet written

    # -- plumbing --------------------------------------------------------------------------------

    def _gmail(self) -> GmailClient:
        if self.client is None:
            raise RuntimeError("no Gmail client yet")
        return self.client

    def _connect(self) -> None:
        with self.s.database.transaction() as session:
            mailbox = self._mailbox(session)
            self.client = gmail_for(session, mailbox, crypto=self.s.crypto,
                                    settings=self.s.settings, database=self.s.database,
                                    timeout=self.s.settings.sync_timeout_seconds,
                                    budget=self.s.budgets.for_mailbox(mailbox.id),
                                    retry=self.retry)
        self.client.on_retry = self._on_retry
        self.client.on_error = self._on_error

    def _on_error(self, exc: GmailError, count: int) -> None:
        kind = error_kind(exc)
        self.s.metrics.errors.labels(kind=kind).inc(count)
        column = {"rate_limited": "rate_limited", "server_error": "server_errors"}.get(kind)
        if column is not None:
            self._record({column: count})

    def _on_retry(self, exc: GmailError, delay: float, attempt: int) -> None:
        log.info("sync:gmail:retry mailbox=%s status=%s delay=%.1fs attempt=%d",
                 self.claim.mailbox_id, exc.upstream_status, delay, attempt)
        self.s.metrics.retries.labels(kind=error_kind(exc)).inc()
        self._record({"retries": 1}, last_error=f"{describe(exc)}, retry {attempt} in "
                     f"{delay:.1f}s"[:200], last_error_at=utcnow(), backoff_seconds=delay)

    def _record(self, counts: dict[str, int], **values: Any) -> None:
        """Add `counts` to the state row now (kept for the next try or the release when the
        database cannot be written)."""
        with self._events:
            for name, value in counts.items():
                self._pending[name] = self._pending.get(name, 0) + value
            pending = dict(self._pending)
            increments = {name: getattr(MailboxSync, name) + value
                          for name, value in pending.items()}
            if note(self.s.database, self.claim, **increments, **values):
                for name, value in pending.items():
                    self._pending[name] -= value

    def unrecorded(self) -> dict[str, int]:
        """Counts not in the state row yet: retries and errors whose write failed, units and
        calls spent since the last committed checkpoint. For the run's release."""
        with self._events:
            out = {name: value for name, value in self._pending.items() if value}
            self._pending.clear()
        if self.client is not None:
            out["units_spent"] = self.client.units_spent - self._units_recorded
            out["gmail_calls"] = self.client.calls - self._calls_recorded
            self._units_recorded, self._calls_recorded = (self.client.units_spent,
                                                          self.client.calls)
        return {name: value for name, value in out.items() if value}

    def _mailbox(self, session: Session) -> Mailbox:
        mailbox = session.get(Mailbox, self.claim.mailbox_id, populate_existing=True)
        if mailbox is None:
            raise LookupError("the mailbox is gone")
        return mailbox

    def _checkpoint(self, session: Session) -> MailboxSync:
        """Fence, and move the client's units and calls into the state row (counted as
        recorded once the step's transaction committed)."""
        row = fence(session, self.claim, self.s.settings)
        client = self._gmail()
        units, calls = client.units_spent, client.calls
        first = "sync_marks" not in session.info
        done_units, done_calls = session.info.get(
            "sync_marks", (self._units_recorded, self._calls_recorded))
        row.units_spent += units - done_units
        row.gmail_calls += calls - done_calls
        session.info["sync_marks"] = (units, calls)

        def committed(committed_session: Session) -> None:
            self._units_recorded, self._calls_recorded = committed_session.info["sync_marks"]

        if first:
            event.listen(session, "after_commit", committed, once=True)
        return row

    def _check_stop(self) -> None:
        if self.should_stop():
            raise StopRequested()

    def _state(self) -> MailboxSync:
        with self.s.database.transaction() as session:
            row = session.get(MailboxSync, self.claim.mailbox_id)
            if row is None:
                raise LookupError("no sync state")
            session.expunge(row)
            return row

    def _stored(self, session: Session, ids: list[str]) -> dict[str, Message]:
        if not ids:
            return {}
        return {m.gmail_id: m for m in session.scalars(select(Message).options(load_only(
            Message.gmail_id, Message.thread_id, Message.label_ids, Message.history_id,
            Message.stored_at, Message.tenant_id, Message.mailbox_id)).where(
            Message.mailbox_id == self.claim.mailbox_id, Message.gmail_id.in_(ids)))}

    @staticmethod
    def _advance(row: MailboxSync, page: gmail_ops.Page) -> None:
        row.full_page_token = page.next_token
        row.full_pages_done += 1

    # -- batches of messages --------------------------------------------------------------------

    def _decide_and_fetch(self, step: str, chunk: list[str], counts: dict[str, Any]
                          ) -> tuple[Access, gmail_ops.Fetched]:
        """Decide (the allow is logged and committed before Gmail is called), then fetch."""
        with self.s.database.transaction() as session:
            access = self.gate.authorize(session, self._mailbox(session), step, ids=chunk,
                                         counts=counts)
        return access, gmail_ops.get_batch(self._gmail(), chunk, self.retry)

    def _fetch_batches(self, step: str, batches: list[list[str]], threads: dict[str, str], *,
                       page_no: int | None = None,
                       advance: gmail_ops.Page | None = None) -> None:
        """Fetch and store batches, fetching batch n+1 (on one helper thread) while batch n is
        parsed, sealed and stored, so Gmail's quota is spent without waiting for the database."""
        if not batches:
            return

        def counts(chunk: list[str]) -> dict[str, Any]:
            out: dict[str, Any] = {"requested": len(chunk)}
            if page_no is not None:
                out["page"] = page_no
            return out

        with ThreadPoolExecutor(1, thread_name_prefix="sync-prefetch") as prefetch:
            future = prefetch.submit(self._decide_and_fetch, step, batches[0],
                                     counts(batches[0]))
            for index, chunk in enumerate(batches):
                access, fetched = future.result()
                last = index == len(batches) - 1
                if not last:
                    self._check_stop()
                    nxt = batches[index + 1]
                    future = prefetch.submit(self._decide_and_fetch, step, nxt, counts(nxt))
                self._store_batch(access, chunk, fetched, threads,
                                  advance=advance if last else None)

    def _store_batch(self, access: Access, chunk: list[str], fetched: gmail_ops.Fetched,
                     threads: dict[str, str], *, advance: gmail_ops.Page | None) -> int:
        items = [self._incoming(resource, threads.get(gmail_id, gmail_id))
                 for gmail_id in chunk if (resource := fetched.messages.get(gmail_id))]
        with self.s.database.transaction() as session:
            mailbox = self._mailbox(session)
            self.writer.put_many(session, access, mailbox, items)
            row = self._checkpoint(session)
            stored = len(fetched.messages)
            row.messages_fetched += stored
            if row.phase == SyncPhase.full:
                row.full_messages_done += stored
            if advance is not None:
                self._advance(row, advance)
        return stored

    @staticmethod
    def _incoming(resource: dict[str, Any], thread_id: str) -> IncomingMessage:
        return IncomingMessage(gmail_id=str(resource["id"]),
                               thread_id=str(resource.get("threadId") or thread_id),
                               raw=gmail_ops.raw_bytes(resource),
                               label_ids=list(resource.get("labelIds", [])),
                               history_id=int(resource.get("historyId", 0)),
                               internal_date=_internal_date(resource),
                               size_estimate=resource.get("sizeEstimate"))
