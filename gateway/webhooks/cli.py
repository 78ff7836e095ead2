"""`gmail-gateway webhooks ...`:

    webhooks deliver   dispatch new events and deliver what is due, once (exit 1 if a delivery
                       went dead in this pass)

The scheduler's `webhooks-deliver` job runs the same pass every two seconds; this command is
for flushing the queue by hand. The main CLI (`gateway/cli.py`) calls `add_commands(subparsers)`.
"""

from __future__ import annotations

import argparse
import json

from gateway.settings import Settings


def cmd_deliver(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.kit.logs import configure_logging
    from gateway.runtime import build_runtime
    from gateway.webhooks.periodic import deliver_webhooks

    settings.check_safe()
    configure_logging(settings.log_level)
    with build_runtime(settings) as runtime:
        report = deliver_webhooks(runtime.database, runtime.crypto, settings, runtime.oplog)
    print(json.dumps(report.as_dict(), indent=2))
    return 1 if report.dead else 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hooks = subparsers.add_parser("webhooks", help="webhooks to the CRM").add_subparsers(
        dest="webhooks_command", required=True)
    deliver = hooks.add_parser("deliver", help="dispatch new events and deliver due webhooks "
                               "once (the scheduler does it every two seconds)")
    deliver.set_defaults(handler=cmd_deliver)
