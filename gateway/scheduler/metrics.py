"""The scheduler's Prometheus metrics: this process's runs, and every job's state as the job
table holds it (so any replica's scrape shows the whole cluster's last run, next run and last
error, whichever replica ran the job).

    gateway_scheduler_runs_total{job,outcome}              runs this process made (ok, failed)
    gateway_scheduler_run_duration_seconds{job}            their duration
    gateway_scheduler_job_last_run_timestamp_seconds{job}  start of the job's last run (any replica)
    gateway_scheduler_job_last_success_timestamp_seconds{job}
    gateway_scheduler_job_last_error_timestamp_seconds{job}
    gateway_scheduler_job_next_run_timestamp_seconds{job}
    gateway_scheduler_job_failing{job}                     1 if the job's last run failed
    gateway_scheduler_job_running{job}                     1 while a run holds the job's lease
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.scheduler.leases import JobState

log = logging.getLogger(__name__)

_GAUGES: tuple[tuple[str, str, Callable[[JobState], datetime | float | None]], ...] = (
    ("last_run_timestamp_seconds", "Start of the job's last run, any replica",
     lambda job: job.last_started_at),
    ("last_success_timestamp_seconds", "End of the job's last successful run",
     lambda job: job.last_ok_at),
    ("last_error_timestamp_seconds", "End of the job's last failed run",
     lambda job: job.last_failed_at),
    ("next_run_timestamp_seconds", "When the job's next period starts",
     lambda job: job.next_run_at),
    ("failing", "1 if the job's last run failed", lambda job: float(job.last_outcome == "failed")),
    ("running", "1 while a run holds the job's lease", lambda job: float(job.running)),
)


class JobTableCollector(Collector):
    """Reads the job table at scrape time; a scrape during a database outage shows none."""

    def __init__(self, read: Callable[[], list[JobState]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            states = self.read()
        except Exception:  # noqa: BLE001 - a scrape reports what it can, never raises
            log.warning("scheduler metrics: the job table could not be read")
            states = []
        for suffix, help_text, value_of in _GAUGES:
            family = GaugeMetricFamily(f"gateway_scheduler_job_{suffix}", help_text,
                                       labels=["job"])
            for state in states:
                value = value_of(state)
                if value is None:
                    continue
                family.add_metric([state.name], value.timestamp()
                                  if isinstance(value, datetime) else value)
            yield family


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.runs = Counter("gateway_scheduler_runs_total",
                            "Job runs this scheduler process made, by outcome (ok, failed)",
                            ["job", "outcome"], registry=self.registry)
        self.duration = Histogram("gateway_scheduler_run_duration_seconds",
                                  "Duration of the job runs this process made", ["job"],
                                  registry=self.registry,
                                  buckets=(.01, .05, .1, .5, 1, 5, 15, 60, 300, 1800))

    def watch_table(self, read: Callable[[], list[JobState]]) -> None:
        self.registry.register(JobTableCollector(read))
