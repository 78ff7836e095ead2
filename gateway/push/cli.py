"""`gmail-gateway push ...`: Gmail watch upkeep.

    push renew-watches [--limit N]   create/renew due watches by hand (the scheduler's
                                     `push-renew-watches` job does it every five minutes);
                                     exit 1 if any renewal failed

The main CLI (`gateway/cli.py`) calls `add_commands(subparsers)`.
"""

from __future__ import annotations

import argparse
import json

from gateway.settings import Settings


def cmd_renew_watches(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.push.periodic import renew_watches
    from gateway.sync.cli import open_services

    with open_services(settings) as services:
        report = renew_watches(services, limit=args.limit)
    print(json.dumps(report.as_dict(), indent=2))
    return 0 if report.failed == 0 else 1


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    push = subparsers.add_parser("push", help="Gmail push: watch upkeep").add_subparsers(
        dest="push_command", required=True)
    renew = push.add_parser("renew-watches", help="create or renew the Gmail watches that are "
                            "due (the scheduler does it every five minutes)")
    renew.add_argument("--limit", type=int, default=500, help="at most this many mailboxes")
    renew.set_defaults(handler=cmd_renew_watches)
