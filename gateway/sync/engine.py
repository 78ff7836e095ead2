"""One sync run of one claimed mailbox: a full sync (newest first, checkpointed per page and
batch) when the mailbox has none yet or its history expired, then an incremental sync from the
stored historyId. This module holds the order of the steps; what every step runs on (the
mailbox's Gmail client, the fenced checkpoint, the batch fetch-and-store pipeline) is `SyncSteps`
in gateway/sync/steps.py.

Each step is one transaction: the enforcement point's decision and its operation-log entry
(`SyncGate`), the Gmail calls, the store writes (`SyncWriter`, only with that decision), and the
checkpoint with the lease re-checked (`fence`) — all committed together or not at all. A worker
killed anywhere loses at most the step it was in; the next worker starts from the checkpoint.

Full sync: the profile's historyId is taken at the *start*, so the incremental sync afterwards
replays every change made while the full sync ran. Pages of 500 ids (`messages.list`), then
`messages.get format=raw` in batches of ≤ 50 for the ids not yet stored. Every listed id is
remembered in `sync_seen`; at the end, messages stored before this full sync started that Gmail no
longer listed are removed, and the labels of messages kept from before are refreshed
(`format=minimal`), so a resync after an expired history converges without duplicates.

Incremental: all pages of `history.list`, reduced to a plan (fetch what was added and still
exists, delete what was deleted, apply label additions/removals in order), applied with
idempotent writes; the new historyId is stored in the same transaction as the last writes.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from gateway.gmail.errors import GmailNotFound
from gateway.kit.timeutil import utcnow
from gateway.mail.models import Message
from gateway.sync import gmail_ops
from gateway.sync.labels import replace_labels
from gateway.sync.models import SyncPhase, SyncSeen
from gateway.sync.plan import Plan, chunks
from gateway.sync.steps import SyncSteps

log = logging.getLogger(__name__)


class MailboxSyncRun(SyncSteps):
    """Syncs one claimed mailbox until it is current (or fails, or the worker stops)."""

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> None:
        self._connect()
        state = self._state()
        if state.phase == SyncPhase.full:
            self._full_pages()
        elif state.history_id is None:
            self._start_full("initial")
            self._full_pages()
        try:
            self._incremental()
        except GmailNotFound:
            log.warning("sync:history:expired mailbox=%s: full resync", self.claim.mailbox_id)
            self._start_full("history_expired")
            self._full_pages()
            self._incremental()

    # -- full sync -------------------------------------------------------------------------------

    def _start_full(self, reason: str) -> None:
        self._check_stop()
        client = self._gmail()
        with self.s.database.transaction() as session:
            mailbox = self._mailbox(session)
            access = self.gate.authorize(session, mailbox, "full_start", counts={"reason": reason})
            history_id = gmail_ops.profile_history_id(client)
            replace_labels(session, access, self.s.crypto, mailbox, gmail_ops.list_labels(client))
            session.execute(delete(SyncSeen).where(SyncSeen.mailbox_id == mailbox.id))
            row = self._checkpoint(session)
            row.phase = SyncPhase.full
            row.full_history_id = history_id
            row.full_reason = reason
            row.full_page_token = None
            row.full_pages_done = 0
            row.full_messages_done = 0
            row.full_started_at = utcnow()
            row.full_completed_at = None

    def _full_pages(self) -> None:
        state = self._state()
        token, page_no = state.full_page_token, state.full_pages_done
        started = state.full_started_at
        while True:
            self._check_stop()
            page = self._list_page(token, page_no)
            self._fetch_page(page, page_no, started)
            token, page_no = page.next_token, page_no + 1
            if token is None:
                self._complete_full(started)
                return

    def _list_page(self, token: str | None, page_no: int) -> gmail_ops.Page:
        client = self._gmail()
        with self.s.database.transaction() as session:
            mailbox = self._mailbox(session)
            self.gate.authorize(session, mailbox, "full_list", counts={"page": page_no})
            size = gmail_ops.FIRST_PAGE if page_no == 0 else gmail_ops.LIST_PAGE
            page = gmail_ops.list_page(client, token, size)
            if page.refs:
                dialect = session.get_bind().dialect.name
                insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
                session.execute(insert(SyncSeen).values(
                    [{"mailbox_id": mailbox.id, "gmail_id": gid} for gid, _ in page.refs]
                ).on_conflict_do_nothing())
            self._checkpoint(session)
        return page

    def _fetch_page(self, page: gmail_ops.Page, page_no: int, started: datetime | None) -> None:
        threads = dict(page.refs)
        ids = [gid for gid, _ in page.refs]
        with self.s.database.transaction() as session:
            stored = self._stored(session, ids)
        todo = [gid for gid in ids if gid not in stored]
        # Messages kept from before this full sync (a resync): refresh their labels.
        stale = [gid for gid, m in stored.items()
                 if started is not None and m.stored_at < started]
        batches = list(chunks(todo, gmail_ops.MAX_BATCH))
        relabels = list(chunks(stale, gmail_ops.MAX_BATCH))
        self._fetch_batches("full_batch", batches, threads, page_no=page_no,
                            advance=None if relabels else page)
        for index, chunk in enumerate(relabels):
            self._check_stop()
            self._relabel(chunk, page_no=page_no,
                          advance=page if index == len(relabels) - 1 else None)
        if not batches and not relabels:
            with self.s.database.transaction() as session:
                self._advance(self._checkpoint(session), page)

    def _relabel(self, chunk: list[str], *, page_no: int,
                 advance: gmail_ops.Page | None) -> None:
        client = self._gmail()
        with self.s.database.transaction() as session:
            mailbox = self._mailbox(session)
            access = self.gate.authorize(session, mailbox, "full_relabel", ids=chunk,
                                         counts={"requested": len(chunk), "page": page_no})
            fetched = gmail_ops.get_batch(client, chunk, self.retry, fmt="minimal")
            changed = 0
            for gmail_id, message in self._stored(session, chunk).items():
                resource = fetched.messages.get(gmail_id)
                if resource is None:
                    continue
                labels = list(resource.get("labelIds", []))
                if labels != list(message.label_ids):
                    self.writer.put(session, access, mailbox, gmail_id=gmail_id,
                                    thread_id=message.thread_id, raw=b"", label_ids=labels,
                                    history_id=int(resource.get("historyId", 0)))
                    changed += 1
            row = self._checkpoint(session)
            row.label_changes += changed
            if advance is not None:
                self._advance(row, advance)

    def _complete_full(self, started: datetime | None) -> None:
        with self.s.database.transaction() as session:
            mailbox = self._mailbox(session)
            seen = select(SyncSeen.gmail_id).where(SyncSeen.mailbox_id == mailbox.id)
            vanished_query = select(Message.gmail_id).where(
                Message.mailbox_id == mailbox.id, Message.gmail_id.not_in(seen))
            if started is not None:
                vanished_query = vanished_query.where(Message.stored_at < started)
            vanished = list(session.scalars(vanished_query.limit(500)))
            access = self.gate.authorize(session, mailbox, "full_complete", ids=vanished,
                                         counts={"removed": len(vanished)})
            for gmail_id in vanished:
                self.writer.remove(session, access, mailbox, gmail_id)
            row = self._checkpoint(session)
            if len(vanished) == 500:
                row.messages_deleted += len(vanished)
                return  # more to remove: the next step (same page token = None) continues
            session.execute(delete(SyncSeen).where(SyncSeen.mailbox_id == mailbox.id))
            row.messages_deleted += len(vanished)
            row.phase = SyncPhase.incremental
            row.history_id = row.full_history_id
            row.full_completed_at = utcnow()
            row.full_page_token = None
            row.full_syncs += 1
        if len(vanished) == 500:
            self._complete_full(started)

    # -- incremental -----------------------------------------------------------------------------

    def _incremental(self) -> None:
        self._check_stop()
        client = self._gmail()
        state = self._state()
        start = state.history_id
        if start is None:
            raise RuntimeError("incremental sync without a historyId")
        with self.s.database.transaction() as session:
            mailbox = self._mailbox(session)
            access = self.gate.authorize(session, mailbox, "history_list",
                                         counts={"start_history_id": start})
            history = gmail_ops.history_since(client, start)
            relabelled = replace_labels(session, access, self.s.crypto, mailbox,
                                        gmail_ops.list_labels(client))
            row = self._checkpoint(session)
            row.phase = SyncPhase.incremental
        plan = Plan.from_history(history.records)
        with self.s.database.transaction() as session:
            stored = self._stored(session, list(plan.fetch))
        todo = [gid for gid in plan.fetch if gid not in stored]
        fetched_now: set[str] = set()
        self._fetch_batches("history_fetch", list(chunks(todo, gmail_ops.MAX_BATCH)),
                            plan.fetch)
        fetched_now.update(todo)
        self._apply(plan, history, fetched_now, len(history.records), relabelled)

    def _apply(self, plan: Plan, history: gmail_ops.HistoryBatch, fetched_now: set[str],
               records: int, labels_changed: int) -> None:
        touched = sorted({gid for gid, _, _ in plan.label_ops if gid not in fetched_now}
                         - plan.deleted)
        deleted = sorted(plan.deleted)
        with self.s.database.transaction() as session:
            mailbox = self._mailbox(session)
            access = self.gate.authorize(
                session, mailbox, "history_apply", ids=(deleted + touched)[:500],
                counts={"records": records, "deleted": len(deleted), "relabelled": len(touched),
                        "labels_changed": labels_changed, "history_id": history.latest})
            removed = sum(1 for gid in deleted
                          if self.writer.remove(session, access, mailbox, gid))
            messages = self._stored(session, touched)
            changed = 0
            for gmail_id, op, label_ids in plan.label_ops:
                message = messages.get(gmail_id)
                if message is None:
                    continue
                labels = list(message.label_ids)
                if op == "add":
                    labels += [label for label in label_ids if label not in labels]
                else:
                    labels = [label for label in labels if label not in label_ids]
                if labels != list(message.label_ids):
                    self.writer.put(session, access, mailbox, gmail_id=gmail_id,
                                    thread_id=message.thread_id, raw=b"", label_ids=labels,
                                    history_id=history.latest)
                    changed += 1
            row = self._checkpoint(session)
            row.messages_deleted += removed
            row.label_changes += changed
            row.history_id = max(row.history_id or 0, history.latest)
