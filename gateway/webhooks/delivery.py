"""Delivering the outbox: fan events out to endpoints, claim due deliveries, POST them signed,
record the outcome, back off and give up.

Any number of processes may run `deliver_due` at once (every sync worker runs it as a periodic
task; `gmail-gateway webhooks deliver` runs it on demand): events and deliveries are claimed with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, and a claimed delivery is leased (its `next_attempt_at`
is pushed past the request timeout) before the lock is released, so no other worker picks it up
while it is in flight. The outcome is recorded only if the lease is still ours (same attempt
number). Delivery is at least once: a worker that dies after the receiver answered but before
recording it lets the lease expire and the event is sent again, with the same event id.

Each attempt is written to the operation log as the system actor *before* the request is sent
(an attempt the log cannot record is not made), and its outcome after; neither carries the
payload, only ids, the attempt number, the status code or error class.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from gateway.audit.writer import OperationLog, log_system_operation
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.kit.timeutil import utcnow
from gateway.outbox.models import WebhookEvent
from gateway.settings import Settings
from gateway.webhooks import signing
from gateway.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from gateway.webhooks.sealing import open_secret
from gateway.webhooks.urls import BlockedTarget, check_target

log = logging.getLogger(__name__)

JOB = "webhook-delivery"
PURPOSE = "user_facing"
USER_AGENT = "gmail-gateway-webhooks/1"
LEASE_MARGIN_SECONDS = 30.0
ERROR_LENGTH = 200



def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def backoff_seconds(attempt: int, settings: Settings,
                    rng: Callable[[float, float], float] = random.uniform) -> float:
    """Exponential with equal jitter: half of min(cap, base·2^(attempt-1)) plus a random part of
    the other half, so retries spread out but never come back immediately."""
    ceiling = min(settings.webhook_backoff_max_seconds,
                  settings.webhook_backoff_base_seconds * 2 ** max(attempt - 1, 0))
    return float(ceiling / 2 + rng(0.0, ceiling / 2))


def body_of(event: WebhookEvent) -> bytes:
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")


@dataclass(frozen=True)
class Claimed:
    delivery_id: uuid.UUID
    attempt: int
    endpoint_id: uuid.UUID
    url: str
    secret: str = field(repr=False)
    event_id: uuid.UUID
    event_type: str
    tenant_id: uuid.UUID
    mailbox_id: uuid.UUID | None
    message_id: str | None
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class DeliveryReport:
    dispatched: int = 0
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    purged: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


# -- fan-out --------------------------------------------------------------------------------------


def subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.event_types or event_type in endpoint.event_types


def dispatch(database: Database, *, now: datetime | None = None, limit: int = 500) -> int:
    """Turn undispatched events into one pending delivery per active, subscribed endpoint of
    their tenant that existed when the event happened."""
    now = now or utcnow()
    with database.transaction() as session:
        events = list(session.scalars(
            select(WebhookEvent).where(WebhookEvent.dispatched_at.is_(None))
            .order_by(WebhookEvent.created_at).limit(limit).with_for_update(skip_locked=True)))
        endpoints: dict[uuid.UUID, list[WebhookEndpoint]] = {}
        for event in events:
            if event.tenant_id not in endpoints:
                endpoints[event.tenant_id] = list(session.scalars(select(WebhookEndpoint).where(
                    WebhookEndpoint.tenant_id == event.tenant_id,
                    WebhookEndpoint.active.is_(True))))
            for endpoint in endpoints[event.tenant_id]:
                if endpoint.created_at <= event.created_at and subscribed(endpoint, event.type):
                    session.add(WebhookDelivery(
                        tenant_id=event.tenant_id, event_id=event.id, endpoint_id=endpoint.id,
                        status=DeliveryStatus.pending.value, attempts=0, next_attempt_at=now,
                        attempt_log=[]))
            event.dispatched_at = now
        return len(events)


# -- claim, send, record --------------------------------------------------------------------------


def _log(session: Session, oplog: OperationLog | None, operation: str, claimed: Claimed,
         **detail: Any) -> None:
    log_system_operation(
        session, operation, job=JOB, purpose=PURPOSE, tenant_id=claimed.tenant_id,
        mailbox_id=claimed.mailbox_id,
        resource_type="message" if claimed.message_id is not None else "mailbox",
        resource_ids=(claimed.message_id,) if claimed.message_id is not None else (),
        upstream_protocol="webhook " + claimed.url.split(":", 1)[0].lower(), oplog=oplog,
        detail={"event_id": str(claimed.event_id), "event_type": claimed.event_type,
                "delivery_id": str(claimed.delivery_id),
                "endpoint_id": str(claimed.endpoint_id), "attempt": claimed.attempt, **detail})


def claim(database: Database, crypto: CryptoService, settings: Settings, *,
          oplog: OperationLog | None = None, now: datetime | None = None,
          limit: int = 10) -> list[Claimed]:
    """Lease up to `limit` due deliveries of active endpoints and log each attempt."""
    now = now or utcnow()
    lease = timedelta(seconds=settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS)
    claimed: list[Claimed] = []
    with database.transaction() as session:
        rows = session.execute(
            select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.status == DeliveryStatus.pending.value,
                   WebhookDelivery.next_attempt_at <= now, WebhookEndpoint.active.is_(True))
            .order_by(WebhookDelivery.next_attempt_at).limit(limit)
            .with_for_update(of=WebhookDelivery, skip_locked=True)).all()
        for delivery, endpoint, event in rows:
            # Taken only if no other worker took it since the read: on PostgreSQL the row lock
            # already ensures it; SQLite has no row locks, so the attempt count is compared.
            taken = session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.id,
                       WebhookDelivery.attempts == delivery.attempts,
                       WebhookDelivery.status == DeliveryStatus.pending.value)
                .values(attempts=delivery.attempts + 1, last_attempt_at=now,
                        next_attempt_at=now + lease)
                .execution_options(synchronize_session=False))
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                continue
            session.expire(delivery)
            data = event.payload.get("data") or {}
            item = Claimed(
                delivery_id=delivery.id, attempt=delivery.attempts, endpoint_id=endpoint.id,
                url=endpoint.url, secret=open_secret(session, crypto, endpoint),
                event_id=event.id, event_type=event.type, tenant_id=event.tenant_id,
                mailbox_id=event.mailbox_id,
                message_id=data.get("message_id") if isinstance(data, dict) else None,
                body=body_of(event))
            _log(session, oplog, "webhook:delivery:attempted", item)
            claimed.append(item)
    return claimed


def send(client: httpx.Client, claimed: Claimed, settings: Settings) -> Outcome:
    started = time.monotonic()

    def done(status: int | None, error: str | None) -> Outcome:
        return Outcome(status, error[:ERROR_LENGTH] if error else None,
                       int((time.monotonic() - started) * 1000))

    try:
        check_target(claimed.url, settings)
    except BlockedTarget as exc:
        return done(None, f"blocked_target: {exc}")
    headers = {
        "Content-Type": "application/json", "User-Agent": USER_AGENT,
        signing.SIGNATURE_HEADER: signing.sign(claimed.secret, claimed.body),
        signing.EVENT_ID_HEADER: str(claimed.event_id),
        signing.EVENT_TYPE_HEADER: claimed.event_type,
        signing.DELIVERY_ID_HEADER: str(claimed.delivery_id),
    }
    try:
        response = client.post(claimed.url, content=claimed.body, headers=headers)
    except httpx.TimeoutException:
        return done(None, "timeout")
    except httpx.HTTPError as exc:
        return done(None, f"connection_error: {type(exc).__name__}")
    if 200 <= response.status_code < 300:
        return done(response.status_code, None)
    return done(response.status_code, f"http_status: {response.status_code}")


def record(database: Database, claimed: Claimed, outcome: Outcome, settings: Settings, *,
           oplog: OperationLog | None = None, now: datetime | None = None) -> str:
    """Store the outcome if the lease is still ours; returns delivered/retrying/dead/lost."""
    now = now or utcnow()
    with database.transaction() as session:
        delivery = session.get(WebhookDelivery, claimed.delivery_id, with_for_update=True)
        if (delivery is None or delivery.attempts != claimed.attempt
                or delivery.status != DeliveryStatus.pending.value):
            return "lost"
        entry: dict[str, Any] = {"attempt": claimed.attempt, "at": _iso(now),
                                 "status_code": outcome.status_code, "error": outcome.error,
                                 "duration_ms": outcome.duration_ms, "retry_in_seconds": None}
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        if outcome.ok:
            result = DeliveryStatus.delivered.value
            delivery.status = result
            delivery.delivered_at = now
        elif claimed.attempt >= settings.webhook_max_attempts:
            result = DeliveryStatus.dead.value
            delivery.status = result
        else:
            result = "retrying"
            delay = backoff_seconds(claimed.attempt, settings)
            entry["retry_in_seconds"] = round(delay, 3)
            delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.attempt_log = [*delivery.attempt_log, entry]
        operation = f"webhook:delivery:{'failed' if result == 'retrying' else result}"
        _log(session, oplog, operation, claimed, status_code=outcome.status_code,
             error=outcome.error.split(":", 1)[0] if outcome.error else None,
             retry_in_seconds=entry["retry_in_seconds"])
        return result


def purge(database: Database, settings: Settings, *, now: datetime | None = None) -> int:
    """Forget dispatched events older than the retention whose deliveries are all settled."""
    cutoff = (now or utcnow()) - timedelta(days=settings.webhook_retention_days)
    with database.transaction() as session:
        pending = exists().where(WebhookDelivery.event_id == WebhookEvent.id,
                                 WebhookDelivery.status == DeliveryStatus.pending.value)
        result = session.execute(delete(WebhookEvent).where(
            WebhookEvent.dispatched_at.is_not(None), WebhookEvent.created_at < cutoff,
            ~pending).execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)


def _count(report: DeliveryReport, result: str) -> None:
    if result == DeliveryStatus.delivered.value:
        report.delivered += 1
    elif result == DeliveryStatus.dead.value:
        report.dead += 1
    elif result == "retrying":
        report.retrying += 1


def deliver_due(database: Database, crypto: CryptoService, settings: Settings, *,
                oplog: OperationLog | None = None, now: datetime | None = None,
                max_seconds: float | None = None) -> DeliveryReport:
    """One pass: dispatch new events, then deliver what is due (a few at a time, concurrently)
    until nothing is due or `max_seconds` have passed."""
    report = DeliveryReport()
    deadline = time.monotonic() + (max_seconds if max_seconds is not None
                                   else settings.webhook_pass_seconds)
    while True:
        dispatched = dispatch(database, now=now)
        report.dispatched += dispatched
        if dispatched < 500 or time.monotonic() > deadline:
            break
    concurrency = settings.webhook_concurrency
    batch = claim(database, crypto, settings, oplog=oplog, now=now, limit=concurrency)
    if batch:  # the client and the pool only when something is due (most passes: nothing)
        with (httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False,
                           trust_env=False) as client,
              ThreadPoolExecutor(concurrency, thread_name_prefix="webhook") as pool):
            while batch:
                outcomes = list(pool.map(lambda c: send(client, c, settings), batch))
                for claimed_item, outcome in zip(batch, outcomes, strict=True):
                    report.attempted += 1
                    _count(report, record(database, claimed_item, outcome, settings,
                                          oplog=oplog, now=now))
                if time.monotonic() > deadline:
                    break
                batch = claim(database, crypto, settings, oplog=oplog, now=now,
                              limit=concurrency)
    report.purged = purge(database, settings, now=now)
    if report.attempted or report.dispatched:
        log.info("webhooks:deliver %s", report.as_dict())
    return report
