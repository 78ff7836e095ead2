"""One command line for the gateway: serve, migrate, tenants, principals, keys, and the domains'
own commands (each package adds its subcommands through an `add_commands` hook)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.audit import cli as audit_cli
from gateway.crypto import cli as crypto_cli
from gateway.justifications import cli as justifications_cli
from gateway.kit.errors import GatewayError
from gateway.push import cli as push_cli
from gateway.settings import Settings, UnsafeSettings
from gateway.sync import cli as sync_cli
from gateway.webhooks import cli as webhooks_cli

Handler = Callable[[argparse.Namespace, Settings], int]


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.kit.logs import configure_logging
    from gateway.kit.serving import serve

    configure_logging(settings.log_level)
    if args.migrate:
        cmd_migrate(args, settings)
    # Not uvicorn.run: with --workers > 1 it loses TCP_NODELAY (40 ms stalls; kit/serving.py).
    serve("gateway.app:app_from_env", host=args.host, port=args.port, log_config=None,
          access_log=False, workers=args.workers)
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


def _with_session(settings: Settings, work: Callable[[Any], Any]) -> Any:
    from gateway.kit.db import Database

    db = Database.from_url(settings.database_url)
    try:
        with db.transaction() as session:
            return work(session)
    finally:
        db.dispose()


def cmd_tenant_create(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service

    tenant = _with_session(settings, lambda s: service.create_tenant(s, args.slug, args.name))
    _print({"id": tenant.id, "slug": tenant.slug, "name": tenant.name})
    return 0


def cmd_principal_create(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service

    def work(session: Any) -> Any:
        tenant = service.get_tenant(session, args.tenant)
        return service.create_principal(session, tenant, args.kind, args.subject,
                                        args.display_name or "", args.group or [])

    p = _with_session(settings, work)
    _print({"id": p.id, "tenant_id": p.tenant_id, "kind": p.kind, "subject": p.subject,
            "groups": p.groups})
    return 0


def cmd_principal_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service

    def work(session: Any) -> Any:
        tenant = service.get_tenant(session, args.tenant)
        return [{"id": p.id, "kind": p.kind, "subject": p.subject, "groups": p.groups}
                for p in service.list_principals(session, tenant)]

    _print(_with_session(settings, work))
    return 0


def cmd_key_create(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service
    from gateway.accounts.pepper import load_pepper

    pepper = load_pepper(settings)
    expires = (datetime.now(UTC) + timedelta(days=args.expires_days)) if args.expires_days else None

    def work(session: Any) -> Any:
        tenant = service.get_tenant(session, args.tenant)
        principal = service.get_principal(session, tenant, args.principal)
        return service.create_api_key(session, pepper, principal, args.name or "", expires)

    issued = _with_session(settings, work)
    _print({"id": issued.key.id, "prefix": issued.key.prefix, "expires_at": expires,
            "api_key": issued.secret,
            "note": "shown once: the gateway keeps only a keyed hash of it"})
    return 0


def cmd_key_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service

    def work(session: Any) -> Any:
        tenant = service.get_tenant(session, args.tenant)
        return [{"id": k.id, "prefix": k.prefix, "name": k.name, "principal_id": k.principal_id,
                 "created_at": k.created_at, "expires_at": k.expires_at,
                 "revoked_at": k.revoked_at, "last_used_at": k.last_used_at}
                for k in service.list_api_keys(session, tenant)]

    _print(_with_session(settings, work))
    return 0


def cmd_key_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service

    def work(session: Any) -> Any:
        return service.revoke_api_key(session, service.get_tenant(session, args.tenant), args.key)

    key = _with_session(settings, work)
    _print({"id": key.id, "prefix": key.prefix, "revoked_at": key.revoked_at})
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gmail-gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    serve.set_defaults(handler=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("revision", nargs="?", default="heads")
    migrate.set_defaults(handler=cmd_migrate)

    tenants = sub.add_parser("tenants", help="manage tenants").add_subparsers(
        dest="tenants_command", required=True)
    t_create = tenants.add_parser("create")
    t_create.add_argument("slug")
    t_create.add_argument("--name")
    t_create.set_defaults(handler=cmd_tenant_create)

    principals = sub.add_parser("principals", help="manage principals").add_subparsers(
        dest="principals_command", required=True)
    p_create = principals.add_parser("create")
    p_create.add_argument("--tenant", required=True)
    p_create.add_argument("--kind", required=True,
                          choices=["end_user", "crm_service", "operator", "reviewer", "analytics"])
    p_create.add_argument("--subject", required=True)
    p_create.add_argument("--display-name")
    p_create.add_argument("--group", action="append", help="operator group (repeatable)")
    p_create.set_defaults(handler=cmd_principal_create)
    p_list = principals.add_parser("list")
    p_list.add_argument("--tenant", required=True)
    p_list.set_defaults(handler=cmd_principal_list)

    keys = sub.add_parser("keys", help="API keys (and key-encryption keys)").add_subparsers(
        dest="keys_command", required=True)
    k_create = keys.add_parser("create", help="issue an API key (shown once)")
    k_create.add_argument("--tenant", required=True)
    k_create.add_argument("--principal", required=True, help="principal id")
    k_create.add_argument("--name")
    k_create.add_argument("--expires-days", type=int)
    k_create.set_defaults(handler=cmd_key_create)
    k_list = keys.add_parser("list")
    k_list.add_argument("--tenant", required=True)
    k_list.set_defaults(handler=cmd_key_list)
    k_revoke = keys.add_parser("revoke")
    k_revoke.add_argument("--tenant", required=True)
    k_revoke.add_argument("key", help="key id or display prefix")
    k_revoke.set_defaults(handler=cmd_key_revoke)

    crypto_cli.add_commands(sub, keys)
    audit_cli.add_commands(sub, keys)
    _add_oauth_commands(sub)
    push_cli.add_commands(sub)
    justifications_cli.add_commands(sub)
    sync_cli.add_commands(sub)
    webhooks_cli.add_commands(sub)
    return parser


def cmd_oauth_keep_alive(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.oauth.tokens import run_keep_alive

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


def _add_oauth_commands(sub: Any) -> None:
    oauth = sub.add_parser("oauth", help="token upkeep").add_subparsers(
        dest="oauth_command", required=True)
    oauth.add_parser("keep-alive", help="refresh refresh tokens idle for "
                     "GATEWAY_OAUTH_KEEPALIVE_IDLE_DAYS (run daily)"
                     ).set_defaults(handler=cmd_oauth_keep_alive)
    oauth.add_parser("purge-states", help="delete consent links expired for over a day"
                     ).set_defaults(handler=cmd_oauth_purge_states)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
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


if __name__ == "__main__":
    raise SystemExit(main())
