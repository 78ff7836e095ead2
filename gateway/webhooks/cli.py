"""`gmail-gateway webhooks ...`:

    webhooks deliver [--loop] [--interval S]   dispatch new events and deliver what is due, once
                                               (exit 1 if a delivery went dead in this pass) or
                                               until SIGTERM with --loop

Sync workers already deliver as a periodic task; this command is for a dedicated delivery
process, cron, or flushing the queue by hand. The main CLI (`gateway/cli.py`) calls
`add_commands(subparsers)`.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from types import FrameType

from gateway.settings import Settings


def cmd_deliver(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.app import build_database
    from gateway.audit.writer import OperationLog
    from gateway.crypto import CryptoService
    from gateway.kit.logs import configure_logging
    from gateway.webhooks.delivery import DeliveryReport, deliver_due

    settings.check_safe()
    configure_logging(settings.log_level)
    database = build_database(settings)
    crypto = CryptoService.from_settings(settings)
    oplog = OperationLog.from_settings(settings)
    stop = threading.Event()
    total = DeliveryReport()
    if args.loop:
        def handle(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
    try:
        while True:
            report = deliver_due(database, crypto, settings, oplog=oplog)
            for name, value in report.as_dict().items():
                setattr(total, name, getattr(total, name) + value)
            if not args.loop or stop.wait(args.interval):
                break
    finally:
        crypto.close()
        database.dispose()
    print(json.dumps(total.as_dict(), indent=2))
    return 1 if total.dead else 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hooks = subparsers.add_parser("webhooks", help="webhooks to the CRM").add_subparsers(
        dest="webhooks_command", required=True)
    deliver = hooks.add_parser("deliver", help="dispatch new events and deliver due webhooks")
    deliver.add_argument("--loop", action="store_true", help="keep delivering until SIGTERM")
    deliver.add_argument("--interval", type=float, default=2.0,
                         help="seconds between passes with --loop")
    deliver.set_defaults(handler=cmd_deliver)
