"""Keeping a Gmail watch (`users.watch`) on every active mailbox, renewed daily.

Google ends a watch after 7 days; it recommends renewing daily. A mailbox is due when it has no
watch, when its watch is for another topic, when less than `RENEW_BEFORE_EXPIRY` is left or when
it was renewed more than `RENEW_AFTER` ago. A failed attempt is retried after
`RETRY_AFTER_FAILURE` (polling covers the gap). Each renewal:

1. passes the enforcement point as the system actor (`mail.sync`, purpose `sync`, step
   `watch`): a restricted mailbox or one without a Gmail read scope is refused and logged;
2. calls `users.getProfile` (1 unit: the address Gmail will name in notifications) and
   `users.watch` (100 units) through `GmailClient`, so the units are charged to the mailbox;
3. stores the expiry, the historyId at watch and the address's tenant-keyed blind index, and
   logs `sync:watch:renewed` with the expiry (never the address).

Safe on any number of workers: each mailbox is renewed in its own transaction holding its
watch row `FOR UPDATE SKIP LOCKED` (PostgreSQL), so two workers never renew one mailbox.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from google.auth.exceptions import RefreshError
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.audit.operations import Operation
from gateway.audit.writer import SYSTEM_ACTOR_KIND, log_system_operation, system_connection_id
from gateway.crypto import CryptoService
from gateway.gmail import GmailClient
from gateway.gmail.client import QuotaBudget
from gateway.kit.db import Database
from gateway.kit.errors import GatewayError
from gateway.kit.timeutil import as_utc, utcnow
from gateway.mailboxes.gmail_access import gmail_for
from gateway.mailboxes.models import Mailbox
from gateway.policy.enforcement import AccessRequest, Actor, Enforcer, Terminal
from gateway.policy.resources import mailbox_bound
from gateway.policy.vocabulary import SCOPE_MODIFY, SCOPE_READONLY, Action, MailboxState
from gateway.push.models import MailboxWatch
from gateway.settings import Settings

log = logging.getLogger(__name__)

WATCH_JOB = "push-watch"
UPSTREAM = "gmail-api/v1 https"
RENEW_AFTER = timedelta(days=1)
RENEW_BEFORE_EXPIRY = timedelta(hours=24)
RETRY_AFTER_FAILURE = timedelta(hours=1)
# Scopes under which Gmail accepts users.watch and the sync policy allows mail.sync.
WATCH_SCOPES = frozenset({SCOPE_READONLY, SCOPE_MODIFY})

BudgetFor = Callable[[Mailbox], QuotaBudget | None]


@dataclass
class WatchReport:
    renewed: int = 0
    failed: int = 0
    skipped: int = 0
    forgotten: int = 0
    units_spent: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"renewed": self.renewed, "failed": self.failed, "skipped": self.skipped,
                "forgotten": self.forgotten, "units_spent": self.units_spent,
                "errors": dict(self.errors)}



def _from_ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class WatchKeeper:
    """Creates, renews and stops mailboxes' Gmail watches."""

    def __init__(self, database: Database, crypto: CryptoService, settings: Settings,
                 enforcer: Enforcer, *, budget_for: BudgetFor | None = None) -> None:
        self.database = database
        self.crypto = crypto
        self.settings = settings
        self.enforcer = enforcer
        self.budget_for = budget_for
        self.host = socket.gethostname()

    # -- choosing ---------------------------------------------------------------------------

    def due(self, session: Session, now: datetime, limit: int) -> list[uuid.UUID]:
        """Active mailboxes whose watch is missing, for another topic, or due for renewal."""
        topic = self.settings.push_topic
        w = MailboxWatch
        rows = session.execute(
            select(Mailbox.id, Mailbox.granted_scopes)
            .outerjoin(w, w.mailbox_id == Mailbox.id)
            .where(Mailbox.state == MailboxState.active.value, Mailbox.data_deleted_at.is_(None),
                   or_(w.mailbox_id.is_(None), w.topic.is_(None), w.topic != topic,
                       w.expires_at.is_(None), w.expires_at < now + RENEW_BEFORE_EXPIRY,
                       w.renewed_at.is_(None), w.renewed_at < now - RENEW_AFTER),
                   or_(w.last_error.is_(None), w.attempted_at.is_(None),
                       w.attempted_at < now - RETRY_AFTER_FAILURE))
            .order_by(w.expires_at.asc().nulls_first(), Mailbox.id)
            .limit(limit)).all()
        return [row.id for row in rows if WATCH_SCOPES & set(row.granted_scopes or ())]

    def _is_due(self, watch: MailboxWatch, now: datetime) -> bool:
        if watch.last_error and watch.attempted_at is not None and \
                as_utc(watch.attempted_at) >= now - RETRY_AFTER_FAILURE:
            return False
        return (watch.topic != self.settings.push_topic or watch.expires_at is None
                or as_utc(watch.expires_at) < now + RENEW_BEFORE_EXPIRY
                or watch.renewed_at is None or as_utc(watch.renewed_at) < now - RENEW_AFTER)

    # -- renewing ---------------------------------------------------------------------------

    def renew_due(self, *, now: datetime | None = None, limit: int = 500) -> WatchReport:
        """Renew every due watch (up to `limit`) and forget watches of mailboxes that are gone.
        Nothing to do when no topic is configured (changes then arrive by polling only)."""
        now = now or utcnow()
        report = WatchReport()
        report.forgotten = self.forget_inactive()
        if not self.settings.push_topic:
            return report
        with self.database.transaction() as session:
            candidates = self.due(session, now, limit)
        for mailbox_id in candidates:
            self._renew_one(mailbox_id, now, report)
        if candidates:
            log.info("push:watch:renewal renewed=%d failed=%d skipped=%d", report.renewed,
                     report.failed, report.skipped)
        return report

    def renew_mailbox(self, mailbox_id: uuid.UUID, *, now: datetime | None = None
                      ) -> WatchReport:
        """Renew one mailbox's watch now if it is due (e.g. right after it was connected)."""
        report = WatchReport()
        if self.settings.push_topic:
            self._renew_one(mailbox_id, now or utcnow(), report)
        return report

    def _renew_one(self, mailbox_id: uuid.UUID, now: datetime, report: WatchReport) -> None:
        try:
            with self.database.transaction() as session:
                watch = self._lock_row(session, mailbox_id)
                mailbox = session.get(Mailbox, mailbox_id)
                if (watch is None or mailbox is None or mailbox.state != MailboxState.active
                        or not self._is_due(watch, now)):
                    report.skipped += 1  # another worker has it, or it changed meanwhile
                    return
                report.units_spent += self.watch(session, mailbox, watch, now=now)
            report.renewed += 1
        except GatewayError as exc:
            self._failed(mailbox_id, exc.code, now, report)
        except RefreshError:
            # The access token was refused mid-call and google-auth's refresh failed (the
            # grant was revoked meanwhile); the next sync or renewal sees it at refresh time.
            self._failed(mailbox_id, "google_token_refresh_failed", now, report)
        except Exception:  # one mailbox's surprise must not stop the others' renewals
            log.exception("push:watch:unexpected mailbox=%s", mailbox_id)
            self._failed(mailbox_id, "internal_error", now, report)

    def _failed(self, mailbox_id: uuid.UUID, code: str, now: datetime,
                report: WatchReport) -> None:
        report.failed += 1
        report.errors[code] = report.errors.get(code, 0) + 1
        log.warning("push:watch:failed mailbox=%s code=%s", mailbox_id, code)
        self._record_failure(mailbox_id, code, now)

    def _lock_row(self, session: Session, mailbox_id: uuid.UUID) -> MailboxWatch | None:
        """The mailbox's watch row (created if missing), locked; None if another worker holds
        it."""
        if session.get(MailboxWatch, mailbox_id) is None:
            mailbox = session.get(Mailbox, mailbox_id)
            if mailbox is None:
                return None
            try:
                with session.begin_nested():
                    session.add(MailboxWatch(mailbox_id=mailbox_id, tenant_id=mailbox.tenant_id,
                                             pushes_received=0, pushes_coalesced=0))
                    session.flush()
            except IntegrityError:
                pass  # a concurrent worker created it
        row: MailboxWatch | None = session.scalar(
            select(MailboxWatch).where(MailboxWatch.mailbox_id == mailbox_id)
            .with_for_update(skip_locked=True).execution_options(populate_existing=True))
        return row

    def watch(self, session: Session, mailbox: Mailbox, watch: MailboxWatch, *,
              now: datetime | None = None) -> int:
        """Authorize, call Gmail, store the outcome; returns the units spent. Raises
        PolicyDenied, MailboxNeedsUser, GmailError or Unavailable (all GatewayErrors)."""
        now = now or utcnow()
        topic = self.settings.push_topic
        if not topic:
            raise GatewayError("no Pub/Sub topic configured (GATEWAY_PUSH_TOPIC)",
                               code="push_topic_not_configured", status=503)
        self.enforcer.authorize(session, self._access_request(mailbox, "watch"))
        client = self._client(session, mailbox)
        profile = client.execute(client.users.getProfile(userId="me"))
        answer = client.execute(client.users.watch(userId="me", body={"topicName": topic}))
        address = str(profile.get("emailAddress") or "")
        watch.address_index = self.crypto.blind_index_email(mailbox.tenant_id, address)
        watch.topic = topic
        watch.expires_at = _from_ms(answer.get("expiration"))
        watch.history_id = _int_or_none(answer.get("historyId"))
        watch.renewed_at = now
        watch.attempted_at = now
        watch.last_error = None
        watch.last_error_at = None
        session.flush()
        log_system_operation(
            session, Operation.sync_watch_renewed, job=WATCH_JOB, purpose="sync",
            tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id, resource_type="mailbox",
            upstream_protocol=UPSTREAM, oplog=self.enforcer.oplog,
            detail={"expires_at": watch.expires_at.isoformat() if watch.expires_at else None,
                    "history_id": watch.history_id, "units": client.units_spent})
        return client.units_spent

    def _client(self, session: Session, mailbox: Mailbox) -> GmailClient:
        budget = self.budget_for(mailbox) if self.budget_for is not None else None
        return gmail_for(session, mailbox, crypto=self.crypto, settings=self.settings,
                         database=self.database, budget=budget)

    def _access_request(self, mailbox: Mailbox, step: str) -> AccessRequest:
        tenant = str(mailbox.tenant_id)
        return AccessRequest(
            actor=Actor(kind=SYSTEM_ACTOR_KIND, id=f"system:{WATCH_JOB}", tenant=tenant,
                        connection_id=system_connection_id(WATCH_JOB)),
            purpose="sync", action=Action.sync.value,
            resource=mailbox_bound(mailbox),
            terminal=Terminal(request_id=f"job-{uuid.uuid4().hex}", protocol="internal",
                              user_agent=f"gmail-gateway/{WATCH_JOB}", device_id=self.host),
            detail={"step": step, "upstream": UPSTREAM})

    def _record_failure(self, mailbox_id: uuid.UUID, code: str, now: datetime) -> None:
        try:
            with self.database.transaction() as session:
                watch = session.get(MailboxWatch, mailbox_id)
                mailbox = session.get(Mailbox, mailbox_id)
                if watch is None and mailbox is not None:
                    watch = MailboxWatch(mailbox_id=mailbox_id, tenant_id=mailbox.tenant_id,
                                         pushes_received=0, pushes_coalesced=0)
                    session.add(watch)
                if watch is not None:
                    watch.attempted_at = now
                    watch.last_error = code[:64]
                    watch.last_error_at = now
        except Exception:  # noqa: BLE001 - the failure is already counted and logged
            log.warning("push:watch:failure_not_recorded mailbox=%s", mailbox_id)

    # -- stopping and forgetting ---------------------------------------------------------------

    def stop(self, session: Session, mailbox: Mailbox) -> bool:
        """`users.stop` for the mailbox (call it while its token still works, i.e. before a
        disconnect revokes it) and forget the watch. True if Google acknowledged."""
        stopped = False
        try:
            self.enforcer.authorize(session, self._access_request(mailbox, "watch_stop"))
            client = self._client(session, mailbox)
            client.execute(client.users.stop(userId="me"))
            stopped = True
        except GatewayError as exc:
            log.info("push:watch:stop_failed mailbox=%s code=%s", mailbox.id, exc.code)
        session.execute(delete(MailboxWatch).where(MailboxWatch.mailbox_id == mailbox.id))
        session.flush()
        return stopped

    def forget_inactive(self) -> int:
        """Delete the watch rows (and so the address index) of disconnected or shredded
        mailboxes; their notifications, if Google still sends any, then match nothing."""
        with self.database.transaction() as session:
            gone = select(Mailbox.id).where(or_(
                Mailbox.state == MailboxState.disconnected.value,
                Mailbox.data_deleted_at.is_not(None)))
            result = session.execute(delete(MailboxWatch).where(
                MailboxWatch.mailbox_id.in_(gone)))
            return int(getattr(result, "rowcount", 0) or 0)
