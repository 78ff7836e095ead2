"""The sync worker: claims due mailboxes with leases and syncs each on a thread of its pool,
and keeps the leases alive with a heartbeat. Periodic jobs (watch renewal, webhook delivery,
checkpoints, ...) are the scheduler's (gateway/scheduler), not the worker's.

Run any number of them (`gmail-gateway worker`, on any number of machines): claims use
`FOR UPDATE SKIP LOCKED` and lease tokens (gateway.sync.repository). A worker killed with SIGKILL
simply stops heart-beating (every `sync_heartbeat_seconds`); its leases expire
`sync_lease_seconds` after the last beat and another worker resumes each mailbox from its
checkpoint (bench/sync_takeover.py measures how long that takes). SIGTERM/SIGINT stop
gracefully: running syncs stop at the next step boundary and give their mailboxes back.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from prometheus_client import CollectorRegistry

from gateway.gmail.errors import GmailError, describe
from gateway.kit.errors import GatewayError, PolicyDenied
from gateway.kit.signals import stop_on_signals
from gateway.mailboxes.tokens import MailboxNeedsUser
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.sync.engine import MailboxSyncRun
from gateway.sync.metrics import SyncMetrics
from gateway.sync.models import SyncPhase
from gateway.sync.repository import Claim, LeaseLost, claim_next, heartbeat, release
from gateway.sync.steps import StopRequested, SyncServices
from gateway.sync.steps import build_services as build_services

log = logging.getLogger(__name__)

# A mailbox the policy refuses to sync (e.g. no read scope) is looked at again after this long.
POLICY_DENIED_RETRY_SECONDS = 3600.0


def sync_claim(services: SyncServices, claim: Claim,
               should_stop: Callable[[], bool] = lambda: False) -> str:
    """Run one claimed mailbox's sync and give the mailbox back with the outcome."""
    if claim.took_over_from is not None:
        services.metrics.takeovers.inc()
        log.warning("sync:lease:takeover mailbox=%s from=%s", claim.mailbox_id,
                    claim.took_over_from)
    outcome = _sync_claim(services, claim, should_stop)
    services.metrics.runs.labels(outcome=outcome).inc()
    return outcome


def _sync_claim(services: SyncServices, claim: Claim, should_stop: Callable[[], bool]) -> str:
    settings, database = services.settings, services.database
    run = MailboxSyncRun(services, claim, should_stop)

    def give_back(outcome: str, **kwargs: Any) -> None:
        release(database, claim, settings, outcome=outcome, counts=run.unrecorded(), **kwargs)

    try:
        run.run()
    except StopRequested:
        give_back("interrupted")
        return "interrupted"
    except LeaseLost:
        log.warning("sync:lease:lost mailbox=%s", claim.mailbox_id)
        return "lease_lost"
    except MailboxNeedsUser as exc:
        give_back("stopped", error=exc.code, phase=SyncPhase.stopped)
        return "stopped"
    except PolicyDenied as exc:
        reasons = ",".join(exc.extra.get("reasons", []))
        give_back("stopped", error=f"policy_denied: {reasons}", phase=SyncPhase.stopped,
                  retry_in=POLICY_DENIED_RETRY_SECONDS)
        return "stopped"
    except GmailError as exc:
        log.warning("sync:failed mailbox=%s code=%s status=%s reason=%s", claim.mailbox_id,
                    exc.code, exc.upstream_status, exc.reason)
        give_back("failed", error=describe(exc), retry_after=exc.retry_after)
        return "failed"
    except GatewayError as exc:
        log.warning("sync:failed mailbox=%s code=%s", claim.mailbox_id, exc.code)
        give_back("failed", error=f"{exc.code}: {exc.detail}")
        return "failed"
    except Exception as exc:
        log.exception("sync:failed mailbox=%s (unexpected)", claim.mailbox_id)
        give_back("failed", error=f"internal_error: {type(exc).__name__}")
        return "failed"
    give_back("ok")
    return "ok"


def heartbeat_interval(settings: Settings) -> float:
    """`sync_heartbeat_seconds`, at most a third of the lease (two beats may be missed)."""
    return max(min(settings.sync_heartbeat_seconds, settings.sync_lease_seconds / 3), 0.05)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class SyncWorker:
    def __init__(self, services: SyncServices, *, owner: str | None = None,
                 concurrency: int | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.owner = owner or default_owner()
        self.concurrency = concurrency or self.settings.sync_worker_concurrency
        self.stopping = threading.Event()
        self._active: dict[uuid.UUID, tuple[Claim, Future[str]]] = {}
        self._lock = threading.Lock()
        self.outcomes: dict[str, int] = {}

    # -- one pass (tests, the in-process worker) -------------------------------------------------

    def run_until_idle(self, max_runs: int = 1000) -> int:
        """Claim and sync due mailboxes one after another in this thread until none is due."""
        runs = 0
        while runs < max_runs and not self.stopping.is_set():
            claim = claim_next(self.services.database, self.owner, self.settings)
            if claim is None:
                break
            self._count(sync_claim(self.services, claim, self.stopping.is_set))
            runs += 1
        return runs

    # -- the long-running loop -------------------------------------------------------------------

    def run_forever(self) -> None:
        beat = threading.Thread(target=self._heartbeat_loop, name="sync-heartbeat", daemon=True)
        beat.start()
        log.info("sync worker %s started (concurrency %d)", self.owner, self.concurrency)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="sync") as pool:
            while not self.stopping.is_set():
                claimed = self._fill(pool)
                if not claimed:
                    self.stopping.wait(self.settings.sync_idle_sleep_seconds)
        log.info("sync worker %s stopped", self.owner)

    def stop(self) -> None:
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        stop_on_signals(self.stopping)

    def _fill(self, pool: ThreadPoolExecutor) -> bool:
        claimed = False
        with self._lock:
            for mailbox_id, (_, future) in list(self._active.items()):
                if future.done():
                    del self._active[mailbox_id]
                    self._count(future.result() if future.exception() is None else "crashed")
            free = self.concurrency - len(self._active)
        for _ in range(free):
            try:
                claim = claim_next(self.services.database, self.owner, self.settings)
            except Exception:  # database hiccup: try again next tick
                log.exception("sync:claim failed")
                return claimed
            if claim is None:
                break
            future = pool.submit(sync_claim, self.services, claim, self.stopping.is_set)
            with self._lock:
                self._active[claim.mailbox_id] = (claim, future)
            claimed = True
        return claimed

    def _count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def _heartbeat_loop(self) -> None:
        interval = heartbeat_interval(self.settings)
        while not self.stopping.wait(interval):
            with self._lock:
                claims = [claim for claim, future in self._active.values() if not future.done()]
            for claim in claims:
                try:
                    if not heartbeat(self.services.database, claim, self.settings):
                        log.warning("sync:lease:lost mailbox=%s", claim.mailbox_id)
                except Exception:  # the step's fence decides; keep beating
                    log.exception("sync:heartbeat failed")


class InProcessWorker:
    """A worker thread inside the API process, for the single-process SQLite demo
    (`GATEWAY_SYNC_IN_PROCESS_WORKER=true`). One mailbox at a time: SQLite has one writer."""

    def __init__(self, services: SyncServices) -> None:
        self.worker = SyncWorker(services, owner=f"in-process:{default_owner()}", concurrency=1)
        self.thread = threading.Thread(target=self.worker.run_forever, name="sync-in-process",
                                       daemon=True)

    def start(self) -> InProcessWorker:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.worker.stop()
        self.thread.join(timeout)


def start_in_process_worker(runtime: Runtime, *,
                            registry: CollectorRegistry | None = None) -> InProcessWorker:
    """The demo's worker thread; its metrics go to `registry` (the API's `/metrics`)."""
    services = SyncServices.from_runtime(runtime, metrics=SyncMetrics(registry))
    return InProcessWorker(services).start()
