"""The gateway's command line. Run `gmail-gateway --help` for the nouns, `gmail-gateway NOUN
--help` for their commands.

Start-up stays light: this module imports only the standard library. A noun's module (and with
it SQLAlchemy, pydantic, the crypto stack) is imported only when that noun is on the command
line; `--help` lists every noun from `COMMANDS` without importing any of them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.settings import Settings

Handler = Callable[[argparse.Namespace, "Settings"], int]

# noun -> (module whose `add_commands(subparsers)` registers it, one-line help for `--help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("gateway.cli", "run the HTTP API"),
    "migrate": ("gateway.cli", "apply database migrations"),
    "tenants": ("gateway.accounts.cli", "tenants: create, list"),
    "principals": ("gateway.accounts.cli",
                   "callers of a tenant: end users, CRM services, operators, reviewers"),
    "api-keys": ("gateway.accounts.cli",
                 "API keys of principals: create (shown once), list, revoke"),
    "kek": ("gateway.crypto.cli",
            "key-encryption keys: rotate, list versions, retire, init the key file"),
    "audit": ("gateway.audit.cli", "the operation log: verify, purge, checkpoints"),
    "compliance": ("gateway.compliance.cli",
                   "the signed Limited Use evidence report: build, verify"),
    "db": ("gateway.kit.roles", "database roles: owner, app, purge (prints the SQL)"),
    "oauth": ("gateway.cli", "token upkeep: keep-alive, purge-states"),
    "push": ("gateway.push.cli", "Gmail push: watch upkeep"),
    "justifications": ("gateway.justifications.cli",
                       "security/legal justifications for operator access"),
    "worker": ("gateway.sync.cli", "sync mailboxes from Gmail (run any number of these)"),
    "webhooks": ("gateway.webhooks.cli", "webhooks to the CRM: deliver"),
    "scheduler": ("gateway.scheduler.cli", "run every periodic job on its cadence (checkpoints, "
                  "purges, keep-alive, watches, webhooks); status"),
    "demo": ("gateway.demo", "set up a demo tenant, API keys and a consent link (needs the "
             "gateway running: scripts/run.sh)"),
}


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.kit.logs import configure_logging
    from gateway.kit.serving import serve

    configure_logging(settings.log_level)
    if args.migrate:
        cmd_migrate(args, settings)
    # Not uvicorn.run: with --workers > 1 it loses TCP_NODELAY (40 ms stalls; kit/serving.py).
    serve("gateway.app:app_from_env", host=args.host, port=args.port or settings.port,
          log_config=None, access_log=False, workers=args.workers,
          max_connections=settings.http_max_connections)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.kit.migrate import upgrade

    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    # `heads`: feature migrations branch off one revision (gateway.kit.migrate); `head` fails.
    revision = getattr(args, "revision", "heads") or "heads"
    upgrade(settings.database_url, revision)
    print(f"database migrated to {revision}", file=sys.stderr)
    return 0


def cmd_oauth_keep_alive(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.mailboxes.tokens import run_keep_alive

    report = run_keep_alive(settings)
    _print(report.as_dict())
    return 0 if report.failed == 0 else 1


def cmd_oauth_purge_states(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.kit.db import Database
    from gateway.oauth.states import purge_states

    database = Database.from_url(settings.database_url)
    try:
        _print({"purged": purge_states(database)})
    finally:
        database.dispose()
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The nouns this module owns: serve, migrate, oauth."""
    serve = sub.add_parser("serve", help=COMMANDS["serve"][1])
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, help="default GATEWAY_PORT, else 8000")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    serve.set_defaults(handler=cmd_serve)

    migrate = sub.add_parser("migrate", help=COMMANDS["migrate"][1])
    migrate.add_argument("revision", nargs="?", default="heads")
    migrate.set_defaults(handler=cmd_migrate)

    oauth = sub.add_parser("oauth", help=COMMANDS["oauth"][1]).add_subparsers(
        dest="oauth_command", required=True, metavar="COMMAND")
    oauth.add_parser("keep-alive", help="refresh refresh tokens idle for "
                     "GATEWAY_OAUTH_KEEPALIVE_IDLE_DAYS (the scheduler does it daily)"
                     ).set_defaults(handler=cmd_oauth_keep_alive)
    oauth.add_parser("purge-states", help="delete consent links expired for over a day"
                     ).set_defaults(handler=cmd_oauth_purge_states)


def _noun(argv: Sequence[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: the noun it names is registered in full by its module; every
    other noun is a help-only placeholder. `build_parser()` with no argv registers them all."""
    parser = argparse.ArgumentParser(prog="gmail-gateway", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="NOUN")
    wanted = {_noun(argv)} if argv is not None else set(COMMANDS)
    loaded: set[str] = set()
    for noun, (module, _help) in COMMANDS.items():
        if noun in wanted and module not in loaded:
            loaded.add(module)
            if module == __name__:
                add_commands(sub)
            else:
                importlib.import_module(module).add_commands(sub)
    for noun, (_module, help_text) in COMMANDS.items():
        if noun not in sub.choices:
            sub.add_parser(noun, help=help_text, add_help=False)
    return parser


def _database_problem(exc: BaseException, settings: Settings) -> str | None:
    """One line naming the database and the setting when `exc` is a database failure."""
    from pathlib import Path

    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import make_url

    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    url = make_url(settings.database_url)
    if not settings.is_sqlite or not url.database or url.database == ":memory:":
        where = url.render_as_string(hide_password=True)
        hint = "check that the server is up and GATEWAY_DATABASE_URL is right"
    else:
        path = Path(url.database)
        where = f"the SQLite file {path.absolute()}"
        hint = ("set GATEWAY_DATABASE_URL to an absolute path (sqlite:////abs/path/gateway.db)"
                if not path.is_absolute() else "check the path and its permissions")
        if not path.is_absolute():
            where += f" (relative to the current directory {Path.cwd()})"
    if "no such table" in reason or "does not exist" in reason:
        hint = "the database has no gateway tables yet: run `gmail-gateway migrate` first"
    return (f"error [database_unavailable]: cannot use {where}, from GATEWAY_DATABASE_URL="
            f"{make_url(settings.database_url).render_as_string(hide_password=True)}: "
            f"{reason}; {hint}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    from pydantic import ValidationError

    from gateway.kit.errors import GatewayError
    from gateway.settings import Settings, UnsafeSettings

    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"GATEWAY_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                             for e in exc.errors())
        print(f"error [invalid_settings]: {problems}", file=sys.stderr)
        return 2
    try:
        if args.command == "serve":
            settings.check_safe()
        handler: Handler = args.handler
        return handler(args, settings)
    except UnsafeSettings as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except GatewayError as exc:
        print(f"error [{exc.code}]: {exc.detail}", file=sys.stderr)
        return 1
    except Exception as exc:
        message = _database_problem(exc, settings)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
