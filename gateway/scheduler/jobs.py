"""Every periodic job the scheduler runs, with its documented cadence. Each job is the same
function its CLI command calls (gateway/*/periodic.py, the `audit`, `oauth`, `push` and
`webhooks` commands); the scheduler only decides when and where it runs.

| job                  | cadence    | what it calls                                          |
|----------------------|------------|--------------------------------------------------------|
| audit-checkpoint     | 2 s        | gateway.audit.periodic.sign_due_heads                  |
| webhooks-deliver     | 2 s        | gateway.webhooks.periodic.deliver_webhooks             |
| push-renew-watches   | 5 min      | gateway.push.periodic.renew_watches                    |
| oauth-purge-states   | 1 h        | gateway.oauth.states.purge_states                      |
| idempotency-purge    | 1 h        | gateway.mail.write.idempotency.IdempotencyKeys.purge_expired |
| oauth-keep-alive     | 1 day      | gateway.mailboxes.tokens.keep_alive                        |
| audit-purge          | 1 day      | gateway.audit.periodic.purge_log (the purge role)      |
| audit-maintain       | 30 days    | gateway.audit.periodic.maintain_log (the owner role)   |

`GATEWAY_SCHEDULER_CADENCES` replaces any of these (seconds, per job name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from gateway.kit.db import Database
from gateway.settings import Settings
from gateway.sync.steps import SyncServices

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


@dataclass(frozen=True)
class JobContext:
    """What a job runs on: the shared services, and the database URLs of the roles that two
    jobs need instead of the app role."""

    services: SyncServices

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @contextmanager
    def role_database(self, url: str | None) -> Iterator[Database]:
        """A database for one run as another role (`url`), or the shared one when unset."""
        if url is None or url == self.settings.database_url:
            yield self.services.database
            return
        database = Database.from_url(url)
        try:
            yield database
        finally:
            database.dispose()


@dataclass(frozen=True)
class Job:
    name: str
    cadence_seconds: float
    run: Callable[[JobContext], Any]  # returns a JSON-able report kept as the last result
    what: str


def _checkpoint(ctx: JobContext) -> Any:
    from gateway.audit.periodic import sign_due_heads

    services = ctx.services
    return {"signed": sign_due_heads(services.database, services.enforcer.oplog.checkpoints)}


def _deliver(ctx: JobContext) -> Any:
    from gateway.webhooks.periodic import deliver_webhooks

    services = ctx.services
    return deliver_webhooks(services.database, services.crypto, services.settings,
                            services.enforcer.oplog).as_dict()


def _renew_watches(ctx: JobContext) -> Any:
    from gateway.push.periodic import renew_watches

    return renew_watches(ctx.services).as_dict()


def _purge_states(ctx: JobContext) -> Any:
    from gateway.oauth.states import purge_states

    return {"purged": purge_states(ctx.services.database)}


def _purge_idempotency(ctx: JobContext) -> Any:
    from gateway.mail.write.idempotency import IdempotencyKeys

    store = IdempotencyKeys(ctx.services.database, ctx.services.crypto,
                             ttl=timedelta(hours=ctx.settings.mail_idempotency_ttl_hours))
    return {"purged": store.purge_expired()}


def _keep_alive(ctx: JobContext) -> Any:
    from gateway.mailboxes.tokens import keep_alive

    return keep_alive(ctx.services.database, ctx.services.crypto, ctx.settings).as_dict()


def _purge_log(ctx: JobContext) -> Any:
    from gateway.audit.periodic import purge_log

    with ctx.role_database(ctx.settings.scheduler_purge_database_url) as database:
        return purge_log(database, ctx.settings).to_dict()


def _maintain_log(ctx: JobContext) -> Any:
    from gateway.audit.periodic import maintain_log

    with ctx.role_database(ctx.settings.scheduler_owner_database_url) as database:
        return maintain_log(database, ctx.settings)


JOBS: tuple[Job, ...] = (
    Job("audit-checkpoint", 2.0, _checkpoint, "sign the chain heads that are due"),
    Job("webhooks-deliver", 2.0, _deliver, "dispatch new events and deliver due webhooks"),
    Job("push-renew-watches", 5 * MINUTE, _renew_watches, "create or renew due Gmail watches"),
    Job("oauth-purge-states", HOUR, _purge_states, "delete consent links expired over a day"),
    Job("idempotency-purge", HOUR, _purge_idempotency, "forget expired Idempotency-Keys"),
    Job("oauth-keep-alive", DAY, _keep_alive, "refresh refresh tokens idle for "
        "GATEWAY_OAUTH_KEEPALIVE_IDLE_DAYS"),
    Job("audit-purge", DAY, _purge_log, "remove log entries past the retention period"),
    Job("audit-maintain", 30 * DAY, _maintain_log, "log partitions ahead, chain heads"),
)


class UnknownJob(ValueError):
    pass


def configured_jobs(settings: Settings, names: list[str] | None = None) -> list[Job]:
    """The jobs with the cadences `GATEWAY_SCHEDULER_CADENCES` sets; only `names` if given."""
    known = {job.name for job in JOBS}
    for name in [*settings.scheduler_cadences, *(names or [])]:
        if name not in known:
            raise UnknownJob(f"no scheduler job {name!r}; the jobs: {', '.join(sorted(known))}")
    for name, seconds in settings.scheduler_cadences.items():
        if not seconds > 0:
            raise UnknownJob(f"the cadence of {name} must be a positive number of seconds")
    return [Job(job.name, float(settings.scheduler_cadences.get(job.name, job.cadence_seconds)),
                job.run, job.what)
            for job in JOBS if names is None or job.name in names]
