"""`gmail-gateway scheduler ...`: the one process that runs every periodic job.

    scheduler [run] [--once] [--job NAME ...]   run every job on its cadence until SIGTERM (any
                                                number of replicas: each period of each job runs
                                                on one); --once: run what is due now, then exit
    scheduler status                            every job's last run, next run and last error

The main CLI (`gateway/cli.py`) calls `add_commands(subparsers)`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from functools import partial

from gateway.settings import Settings

log = logging.getLogger(__name__)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.kit.logs import configure_logging
    from gateway.scheduler.jobs import JobContext, UnknownJob, configured_jobs
    from gateway.scheduler.leases import job_states
    from gateway.scheduler.runner import Scheduler
    from gateway.sync.cli import open_services

    settings.check_safe()
    configure_logging(settings.log_level)
    try:
        jobs = configured_jobs(settings, getattr(args, "job", None))
    except UnknownJob as exc:
        print(f"scheduler: {exc}", file=sys.stderr)
        return 2
    for role in ("purge", "owner"):
        if getattr(settings, f"scheduler_{role}_database_url") is None and not settings.is_sqlite:
            name = f"GATEWAY_SCHEDULER_{role.upper()}_DATABASE_URL"
            log.warning("scheduler: %s is unset; its job runs as GATEWAY_DATABASE_URL's role, "
                        "which in production may not do it (docs/deploy.md)", name)
    with open_services(settings) as services:
        scheduler = Scheduler(JobContext(services), jobs)
        read = partial(job_states, services.database)
        scheduler.metrics.watch_table(read)
        if getattr(args, "once", False):
            outcomes = scheduler.run_due()
            print(json.dumps(outcomes, indent=2))
            return 1 if "failed" in outcomes.values() else 0
        server = None
        if settings.scheduler_metrics_port is not None:
            from gateway.scheduler.ops_server import serve_ops

            server = serve_ops(settings.scheduler_metrics_port, scheduler.metrics.registry, read,
                               scheduler.owner)
            log.info("scheduler metrics and status on :%d", settings.scheduler_metrics_port)
        scheduler.install_signal_handlers()
        try:
            scheduler.run_forever()
        finally:
            if server is not None:
                server.shutdown()
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.kit.db import Database
    from gateway.scheduler.leases import job_states

    database = Database.from_url(settings.database_url)
    try:
        states = job_states(database)
    finally:
        database.dispose()
    print(json.dumps({"jobs": [state.as_dict() for state in states]}, indent=2))
    return 1 if any(state.last_outcome == "failed" for state in states) else 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scheduler = subparsers.add_parser("scheduler", help="run every periodic job on its cadence")
    sub = scheduler.add_subparsers(dest="scheduler_command", metavar="COMMAND")

    def run_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true",
                            help="run the jobs due now, then exit (1 if one failed)")
        parser.add_argument("--job", action="append", metavar="NAME",
                            help="only this job (repeatable); default: every job")
        parser.set_defaults(handler=cmd_run)

    run_options(scheduler)
    run_options(sub.add_parser("run", help="run every job on its cadence until SIGTERM "
                               "(the default command)"))
    sub.add_parser("status", help="every job's last run, next run and last error (exit 1 if a "
                   "job's last run failed)").set_defaults(handler=cmd_status)
