"""`python -m gateway.oauth keep-alive`: refresh idle refresh tokens (run it daily from cron or a
worker; safe to run on several machines at once). `python -m gateway.oauth purge-states`: delete
consent links expired for more than a day. Each prints a JSON report."""

from __future__ import annotations

import argparse
import json
import sys

from gateway.kit.db import Database
from gateway.kit.logs import configure_logging
from gateway.oauth.states import purge_states
from gateway.oauth.tokens import run_keep_alive
from gateway.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.oauth")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("keep-alive", help="refresh tokens idle for oauth_keepalive_idle_days")
    commands.add_parser("purge-states", help="delete consent links expired for over a day")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level)
    if args.command == "purge-states":
        database = Database.from_url(settings.database_url)
        try:
            print(json.dumps({"purged": purge_states(database)}))
        finally:
            database.dispose()
        return 0
    report = run_keep_alive(settings)
    print(json.dumps(report.as_dict()))
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
