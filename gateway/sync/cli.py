"""`gmail-gateway worker`: a sync worker process (any number of them, anywhere)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gateway.mail.store.repository import MessageStore
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from gateway.sync.steps import SyncServices

log = logging.getLogger(__name__)


def worker_services(runtime: Runtime) -> list[object]:
    """The domain services a worker, the scheduler or a push command runs on."""
    return [MessageStore(runtime.crypto)]


@contextmanager
def open_services(settings: Settings) -> Iterator[SyncServices]:
    """The sync's services on a runtime of their own (`build_runtime`), closed on exit."""
    with build_runtime(settings, domain_services=worker_services) as runtime:
        yield SyncServices.from_runtime(runtime)


def run_worker(settings: Settings, *, concurrency: int | None = None, once: bool = False) -> int:
    """Sync until SIGTERM/SIGINT (or, with `once`, until no mailbox is due)."""
    from gateway.kit.logs import configure_logging
    from gateway.sync.worker import SyncWorker

    settings.check_safe()
    configure_logging(settings.log_level)
    with open_services(settings) as services:
        if settings.sync_metrics_port is not None:
            from prometheus_client import start_http_server

            start_http_server(settings.sync_metrics_port, registry=services.metrics.registry)
            log.info("sync worker metrics on :%d/metrics", settings.sync_metrics_port)
        worker = SyncWorker(services, concurrency=concurrency)
        worker.install_signal_handlers()
        if once:
            runs = worker.run_until_idle()
            log.info("sync worker: %d runs %s", runs, worker.outcomes)
            return 0
        worker.run_forever()
        return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    return run_worker(settings, concurrency=args.concurrency, once=args.once)


def add_commands(sub: Any) -> None:
    worker = sub.add_parser("worker", help="sync mailboxes from Gmail (run any number of these)")
    worker.add_argument("--concurrency", type=int, default=None,
                        help="mailboxes synced at once (default GATEWAY_SYNC_WORKER_CONCURRENCY)")
    worker.add_argument("--once", action="store_true",
                        help="sync every due mailbox, then exit")
    worker.set_defaults(handler=cmd_worker)
