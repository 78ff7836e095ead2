"""Two `gmail-gateway scheduler` processes on one database, every job at a one-second cadence:
each period of each job runs on exactly one of them, both take part, a job that fails every
time (the purge role's database is unreachable) records its error each period while the other
jobs go on, and the job table, `/status` and `/metrics` agree with what the processes logged.
Runs on PostgreSQL and, with `--db sqlite`, on SQLite."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from gateway.audit.signing import load_signer
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.scheduler.jobs import JOBS
from gateway.scheduler.leases import JobState, job_states
from gateway.scheduler.models import SchedulerJob
from gateway.settings import Settings
from tests.support.database import empty_tables
from tests.support.served import free_port, gateway_env
from tests.support.world import ROOT

CADENCE = 1.0
RUN_SECONDS = 8.0
FAILING = "audit-purge"
RUN_LINE = re.compile(r"scheduler:run job=(\S+) period=(\d+) owner=(\S+) outcome=(\w+)")


@dataclass
class Run:
    job: str
    period: int
    owner: str
    outcome: str


@dataclass
class Observed:
    runs: list[Run] = field(default_factory=list)
    states: dict[str, JobState] = field(default_factory=dict)
    status: list[dict[str, Any]] = field(default_factory=list)  # each process's /status
    metrics: list[str] = field(default_factory=list)  # each process's /metrics
    exit_codes: list[int | None] = field(default_factory=list)

    def of(self, job: str) -> list[Run]:
        return [run for run in self.runs if run.job == job]


def _get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        body: bytes = response.read()
        return body


def _wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the scheduler exited: {log.read_text()[-2000:]}")
        try:
            _get(port, "/healthz")
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the scheduler's operations port did not come up")


@pytest.fixture(scope="module")
def observed(settings: Settings, database: Database, test_backend: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    with database.transaction() as session:
        session.execute(delete(SchedulerJob))
    CryptoService.from_settings(settings).close()  # the key files exist before both start
    load_signer(settings)
    unreachable = ("sqlite:////nonexistent-directory/purge.db" if test_backend == "sqlite" else
                   "postgresql+psycopg://gateway@127.0.0.1:1/nowhere?connect_timeout=2")
    logs = tmp_path_factory.mktemp("schedulers")
    ports = [free_port(), free_port()]
    processes: list[subprocess.Popen[bytes]] = []
    for index, port in enumerate(ports):
        env = gateway_env(settings, {
            "GATEWAY_SCHEDULER_CADENCES": json.dumps({job.name: CADENCE for job in JOBS}),
            "GATEWAY_SCHEDULER_TICK_SECONDS": "0.05", "GATEWAY_SCHEDULER_LEASE_SECONDS": "5",
            "GATEWAY_SCHEDULER_PURGE_DATABASE_URL": unreachable,
            "GATEWAY_SCHEDULER_METRICS_PORT": str(port), "GATEWAY_LOG_LEVEL": "INFO"})
        with (logs / f"{index}.log").open("wb") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "scheduler"], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=log))
    seen = Observed()
    try:
        for index, (port, process) in enumerate(zip(ports, processes, strict=True)):
            _wait_ready(port, process, logs / f"{index}.log")
        time.sleep(RUN_SECONDS)
        for port in ports:
            seen.status.append(json.loads(_get(port, "/status")))
            seen.metrics.append(_get(port, "/metrics").decode())
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                seen.exit_codes.append(process.wait(30))
            except subprocess.TimeoutExpired:
                process.kill()
                seen.exit_codes.append(None)
    for index in range(len(processes)):
        for line in (logs / f"{index}.log").read_text().splitlines():
            match = RUN_LINE.search(line)
            if match:
                job, period, owner, outcome = match.groups()
                seen.runs.append(Run(job, int(period), owner, outcome))
    seen.states = {state.name: state for state in job_states(database)}
    yield seen
    empty_tables(database)  # what the schedulers' jobs wrote (checkpoints, heads) goes too


def test_each_period_of_each_job_runs_on_one_scheduler(observed: Observed) -> None:
    assert observed.exit_codes == [0, 0]  # SIGTERM: runs in progress finish, then exit 0
    for job in JOBS:
        runs = observed.of(job.name)
        periods = Counter(run.period for run in runs)
        assert periods and max(periods.values()) == 1, f"{job.name} ran twice in a period"
        # Every period from the first run to the last had its run (a period is skipped only
        # when a run outlasts it, which these jobs do not at one second on an idle database).
        span = max(periods) - min(periods) + 1
        assert len(periods) >= span - 2 and span >= RUN_SECONDS / CADENCE - 2, (
            job.name, sorted(periods))
    owners = Counter(run.owner for run in observed.runs)
    assert len(owners) == 2, f"one scheduler did every run: {owners}"


def test_a_failing_job_records_its_error_and_the_others_go_on(observed: Observed) -> None:
    failing = observed.of(FAILING)
    assert failing and {run.outcome for run in failing} == {"failed"}
    state = observed.states[FAILING]
    assert state.last_outcome == "failed" and state.failures == state.runs == len(failing)
    assert state.last_error is not None and "OperationalError" in state.last_error
    assert state.last_failed_at is not None and state.last_ok_at is None
    for job in JOBS:
        if job.name == FAILING:
            continue
        runs = observed.of(job.name)
        assert {run.outcome for run in runs} == {"ok"}, job.name
        state = observed.states[job.name]
        assert (state.runs, state.failures, state.last_outcome) == (len(runs), 0, "ok")
        assert state.last_error is None and not state.running


def test_status_shows_every_jobs_last_run_next_run_and_last_error(observed: Observed) -> None:
    for status in observed.status:
        jobs = {job["name"]: job for job in status["jobs"]}
        assert set(jobs) == {job.name for job in JOBS}
        for job in jobs.values():
            assert job["cadence_seconds"] == CADENCE
            assert job["next_run_at"] > job["last_started_at"]
        assert jobs[FAILING]["last_outcome"] == "failed"
        assert "OperationalError" in jobs[FAILING]["last_error"]
        assert jobs["audit-checkpoint"]["last_result"] == {"signed": 0}


def _samples(text: str, name: str) -> dict[str, float]:
    found = re.findall(rf'^{name}\{{(.*?)\}} (\S+)$', text, re.MULTILINE)
    return {labels: float(value) for labels, value in found}


def test_metrics_show_the_job_table_and_this_processes_runs(observed: Observed) -> None:
    counted: Counter[tuple[str, str]] = Counter()
    for text in observed.metrics:
        for gauge in ("last_run_timestamp_seconds", "next_run_timestamp_seconds", "failing"):
            samples = _samples(text, f"gateway_scheduler_job_{gauge}")
            assert {f'job="{job.name}"' for job in JOBS} <= set(samples), gauge
        failing = _samples(text, "gateway_scheduler_job_failing")
        assert failing[f'job="{FAILING}"'] == 1.0
        assert failing['job="webhooks-deliver"'] == 0.0
        assert f'job="{FAILING}"' in _samples(
            text, "gateway_scheduler_job_last_error_timestamp_seconds")
        for labels, value in _samples(text, "gateway_scheduler_runs_total").items():
            job, outcome = re.findall(r'"([^"]*)"', labels)
            counted[(job, outcome)] += int(value)
    # The two processes' counters add up to the runs logged up to the scrape, at most.
    logged = Counter((run.job, run.outcome) for run in observed.runs)
    assert counted and all(counted[key] <= logged[key] for key in counted)
    assert sum(counted.values()) >= sum(logged.values()) - 2 * len(JOBS)
