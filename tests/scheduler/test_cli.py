"""`gmail-gateway scheduler run --once` runs what is due and reports it; `scheduler status`
prints every job's row and exits 1 while a job's last run failed; an unknown job name in
`--job` or `GATEWAY_SCHEDULER_CADENCES` is refused before anything runs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import delete

from gateway.cli import main
from gateway.kit.db import Database
from gateway.scheduler.models import SchedulerJob
from gateway.settings import Settings
from tests.support.world import TEST_PEPPER


@pytest.fixture
def env(settings: Settings, database: Database,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name, value in (("DATABASE_URL", settings.database_url), ("ENVIRONMENT", "test"),
                        ("DATA_DIR", str(settings.data_dir)), ("KEY_FILE", str(settings.key_file)),
                        ("POLICY_ENGINE_URL", settings.policy_engine_url or ""),
                        ("POLICY_DIR", str(settings.policy_dir)),
                        ("API_KEY_PEPPER", TEST_PEPPER)):
        monkeypatch.setenv(f"GATEWAY_{name}", value)
    with database.transaction() as session:
        session.execute(delete(SchedulerJob))
    yield monkeypatch
    with database.transaction() as session:
        session.execute(delete(SchedulerJob))


def test_once_runs_what_is_due_and_status_shows_it(
        env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scheduler", "run", "--once", "--job", "oauth-purge-states",
                 "--job", "idempotency-purge"]) == 0
    assert json.loads(capsys.readouterr().out) == {"oauth-purge-states": "ok",
                                                   "idempotency-purge": "ok"}
    assert main(["scheduler", "--once", "--job", "oauth-purge-states"]) == 0
    assert json.loads(capsys.readouterr().out) == {}  # this hour's run is done
    assert main(["scheduler", "status"]) == 0
    jobs = {job["name"]: job for job in json.loads(capsys.readouterr().out)["jobs"]}
    assert set(jobs) == {"oauth-purge-states", "idempotency-purge"}
    assert jobs["oauth-purge-states"]["last_result"] == {"purged": 0}
    assert jobs["oauth-purge-states"]["next_run_at"].endswith(":00:00Z")  # on the hour


def test_status_exits_1_while_a_job_is_failing(
        env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("GATEWAY_SCHEDULER_OWNER_DATABASE_URL", "sqlite:////nonexistent-directory/x.db")
    assert main(["scheduler", "run", "--once", "--job", "audit-maintain"]) == 1
    capsys.readouterr()
    assert main(["scheduler", "status"]) == 1
    [job] = json.loads(capsys.readouterr().out)["jobs"]
    assert job["last_outcome"] == "failed" and job["failures"] == 1
    assert job["last_error"].startswith("OperationalError")


@pytest.mark.parametrize("setting, argv", [
    (None, ["scheduler", "run", "--once", "--job", "no-such-job"]),
    ('{"no-such-job": 60}', ["scheduler", "run", "--once"]),
    ('{"audit-purge": 0}', ["scheduler", "run", "--once"]),
])
def test_unknown_jobs_and_bad_cadences_are_refused(
        env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], setting: str | None,
        argv: list[str]) -> None:
    if setting is not None:
        env.setenv("GATEWAY_SCHEDULER_CADENCES", setting)
    assert main(argv) == 2
    assert "scheduler:" in capsys.readouterr().err
