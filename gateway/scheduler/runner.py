"""The scheduler's loop: every tick it tries to take each due job (gateway.scheduler.leases),
runs what it took on a thread of its own, keeps the runs' leases alive with a heartbeat and
records each outcome. Any number of schedulers may run: each period of each job runs on one.

A failing job records its error (its type and where it was raised, never its message, which
can quote data; the full trace is in the log) and runs again next period; the other jobs are
not affected. SIGTERM/SIGINT stop taking jobs; runs in progress finish and are recorded.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import traceback
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry

from gateway.kit.signals import stop_on_signals
from gateway.kit.timeutil import utcnow
from gateway.scheduler import leases
from gateway.scheduler.jobs import Job, JobContext
from gateway.scheduler.metrics import SchedulerMetrics
from gateway.sync.steps import SyncServices

log = logging.getLogger(__name__)


def describe_error(exc: BaseException) -> str:
    """The exception's type (and the driver's, for a database error) and where it was raised."""
    kind = type(exc).__name__
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        kind += f" {code}"
    orig = getattr(exc, "orig", None)
    if orig is not None:
        kind += f" ({type(orig).__module__}.{type(orig).__name__})"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        kind += f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}"
    return kind



class Scheduler:
    def __init__(self, context: JobContext, jobs: list[Job], *, owner: str | None = None,
                 parallel: bool = True, metrics: SchedulerMetrics | None = None) -> None:
        self.context = context
        self.database = context.services.database
        self.settings = context.settings
        self.jobs = jobs
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.parallel = parallel
        self.metrics = metrics or SchedulerMetrics()
        self.stopping = threading.Event()
        self._drained = threading.Event()  # set once no run is left in progress
        self._running: dict[str, Future[str]] = {}
        self._lock = threading.Lock()

    # -- one pass (`scheduler run --once`, tests) -------------------------------------------------

    def run_due(self) -> dict[str, str]:
        """Take and run, one after another in this thread, every job due now; their outcomes."""
        leases.ensure_jobs(self.database, self._cadences(), utcnow())
        outcomes: dict[str, str] = {}
        for job in self.jobs:
            taken = self._claim(job)
            if taken is not None:
                outcomes[job.name] = self._run(job, taken)
        return outcomes

    # -- the long-running loop --------------------------------------------------------------------

    def run_forever(self) -> None:
        self._ensure_rows()
        beat = threading.Thread(target=self._heartbeat_loop, name="scheduler-heartbeat",
                                daemon=True)
        beat.start()
        log.info("scheduler %s started: %s", self.owner,
                 ", ".join(f"{job.name}/{job.cadence_seconds:g}s" for job in self.jobs))
        workers = len(self.jobs) if self.parallel else 1
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="job") as pool:
                while not self.stopping.is_set():
                    self._tick(pool)
                    # Jitter: replicas that started together do not keep asking in lockstep.
                    tick = self.settings.scheduler_tick_seconds
                    self.stopping.wait(tick * random.uniform(0.8, 1.2))  # noqa: S311
        finally:  # leaving the pool waited for the runs in progress, heart-beaten until done
            self._drained.set()
        log.info("scheduler %s stopped", self.owner)

    def stop(self) -> None:
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        stop_on_signals(self.stopping)

    def _ensure_rows(self) -> None:
        while not self.stopping.is_set():
            try:
                leases.ensure_jobs(self.database, self._cadences(), utcnow())
                return
            except Exception:  # the database is not there yet: keep trying
                log.exception("scheduler: the job table could not be prepared")
                self.stopping.wait(self.settings.scheduler_tick_seconds)

    def _cadences(self) -> dict[str, float]:
        return {job.name: job.cadence_seconds for job in self.jobs}

    def _tick(self, pool: ThreadPoolExecutor) -> None:
        try:
            due = leases.due_jobs(self.database, utcnow())
        except Exception:  # database hiccup: try again next tick
            log.exception("scheduler: could not read the job table")
            return
        for job in self.jobs:
            if self.stopping.is_set():
                return
            if job.name not in due:
                continue
            with self._lock:
                running = self._running.get(job.name)
                if running is not None and not running.done():
                    continue
                if not self.parallel and any(not f.done() for f in self._running.values()):
                    return
            try:
                taken = self._claim(job)
            except Exception:  # database hiccup: try again next tick
                log.exception("scheduler: could not take %s", job.name)
                return
            if taken is not None:
                with self._lock:
                    self._running[job.name] = pool.submit(self._run, job, taken)

    def _claim(self, job: Job) -> datetime | None:
        """The moment this scheduler took the job's period, or None if it did not."""
        now = utcnow()
        taken = leases.claim(self.database, job.name, self.owner, now,
                             cadence_seconds=job.cadence_seconds,
                             lease_seconds=self.settings.scheduler_lease_seconds)
        return now if taken else None

    def _run(self, job: Job, taken: datetime) -> str:
        started = utcnow()
        error: str | None = None
        result = None
        try:
            result = job.run(self.context)
        except Exception as exc:  # one job's failure must not stop the others
            error = describe_error(exc)
            log.exception("scheduler:failed job=%s owner=%s", job.name, self.owner)
        finished = utcnow()
        outcome = "failed" if error else "ok"
        self.metrics.runs.labels(job=job.name, outcome=outcome).inc()
        self.metrics.duration.labels(job=job.name).observe((finished - started).total_seconds())
        log.info("scheduler:run job=%s period=%s owner=%s outcome=%s seconds=%.3f", job.name,
                 int(taken.timestamp() // job.cadence_seconds), self.owner, outcome,
                 (finished - started).total_seconds())
        try:
            leases.finish(self.database, job.name, self.owner, started=started, now=finished,
                          error=error, result=result)
        except Exception:  # the lease runs out; the next period runs as planned
            log.exception("scheduler: could not record the run of %s", job.name)
        return outcome

    def _heartbeat_loop(self) -> None:
        lease = self.settings.scheduler_lease_seconds
        while not self._drained.wait(max(lease / 3, 0.05)):
            with self._lock:
                names = [name for name, future in self._running.items() if not future.done()]
            for name in names:
                try:
                    if not leases.extend(self.database, name, self.owner,
                                         utcnow() + timedelta(seconds=lease)):
                        log.warning("scheduler: lost the lease of %s", name)
                except Exception:
                    log.exception("scheduler: heartbeat of %s failed", name)


class InProcessScheduler:
    """The scheduler as a thread inside the API process, for the single-process SQLite demo
    (`GATEWAY_SYNC_IN_PROCESS_WORKER=true`): one job at a time (SQLite has one writer)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.thread = threading.Thread(target=scheduler.run_forever, name="scheduler-in-process",
                                       daemon=True)

    def start(self) -> InProcessScheduler:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.scheduler.stop()
        self.thread.join(timeout)


def start_in_process_scheduler(services: SyncServices, *,
                               registry: CollectorRegistry | None = None) -> InProcessScheduler:
    """The demo's scheduler thread; its metrics go to `registry` (the API's `/metrics`)."""
    from functools import partial

    from gateway.scheduler.jobs import configured_jobs

    scheduler = Scheduler(JobContext(services), configured_jobs(services.settings),
                          parallel=False, metrics=SchedulerMetrics(registry))
    scheduler.metrics.watch_table(partial(leases.job_states, services.database))
    return InProcessScheduler(scheduler).start()
