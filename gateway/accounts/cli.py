"""`gmail-gateway tenants | principals | api-keys ...`: who may call the gateway.

    tenants create SLUG [--name NAME] | tenants list
    principals create --tenant T --kind KIND --subject S [--display-name NAME] [--group G ...]
    principals list --tenant T
    api-keys create --tenant T --principal ID [--name NAME] [--expires-days N]   (shown once)
    api-keys list --tenant T | api-keys revoke --tenant T KEY

Imports stay inside the handlers: `gmail-gateway --help` must not load SQLAlchemy or pydantic.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from gateway.kit.timeutil import utcnow

if TYPE_CHECKING:
    from gateway.settings import Settings

PRINCIPAL_KINDS = ("end_user", "crm_service", "operator", "reviewer", "analytics", "tenant_admin")


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _with_session(settings: Settings, work: Callable[[Any], Any]) -> Any:
    from gateway.kit.db import Database

    db = Database.from_url(settings.database_url)
    try:
        with db.transaction() as session:
            return work(session)
    finally:
        db.dispose()


def _principal(p: Any) -> dict[str, Any]:
    return {"id": p.id, "tenant_id": p.tenant_id, "kind": p.kind, "subject": p.subject,
            "display_name": p.display_name, "groups": p.groups}


def cmd_tenant_create(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service

    tenant = _with_session(settings, lambda s: service.create_tenant(s, args.slug, args.name))
    _print({"id": tenant.id, "slug": tenant.slug, "name": tenant.name})
    return 0


def cmd_tenant_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service

    _print(_with_session(settings, lambda s: [
        {"id": t.id, "slug": t.slug, "name": t.name, "created_at": t.created_at}
        for t in service.list_tenants(s)]))
    return 0


def cmd_principal_create(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service

    def work(session: Any) -> Any:
        tenant = service.get_tenant(session, args.tenant)
        return _principal(service.create_principal(
            session, tenant, args.kind, args.subject, args.display_name or "", args.group or []))

    _print(_with_session(settings, work))
    return 0


def cmd_principal_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service

    def work(session: Any) -> Any:
        tenant = service.get_tenant(session, args.tenant)
        return [_principal(p) for p in service.list_principals(session, tenant)]

    _print(_with_session(settings, work))
    return 0


def cmd_key_create(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.accounts import service
    from gateway.crypto.pepper import load_pepper

    pepper = load_pepper(settings)
    expires = (utcnow() + timedelta(days=args.expires_days)) if args.expires_days else None

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


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tenants = subparsers.add_parser("tenants", help="tenants: create, list").add_subparsers(
        dest="tenants_command", required=True, metavar="COMMAND")
    t_create = tenants.add_parser("create", help="create a tenant")
    t_create.add_argument("slug", help="2-63 lowercase letters, digits or dashes")
    t_create.add_argument("--name", help="display name (default: the slug)")
    t_create.set_defaults(handler=cmd_tenant_create)
    tenants.add_parser("list", help="every tenant, oldest first").set_defaults(
        handler=cmd_tenant_list)

    principals = subparsers.add_parser(
        "principals", help="callers of a tenant: end users, CRM services, operators, reviewers, "
                           "tenant admins"
    ).add_subparsers(dest="principals_command", required=True, metavar="COMMAND")
    p_create = principals.add_parser("create", help="create a principal")
    p_create.add_argument("--tenant", required=True, help="tenant slug or id")
    p_create.add_argument("--kind", required=True, choices=PRINCIPAL_KINDS)
    p_create.add_argument("--subject", required=True,
                          help="the principal's stable identifier in the CRM (an email, a user id)")
    p_create.add_argument("--display-name", help="the name logs and pages show for it")
    p_create.add_argument("--group", action="append", help="operator group (repeatable)")
    p_create.set_defaults(handler=cmd_principal_create)
    p_list = principals.add_parser("list", help="a tenant's principals")
    p_list.add_argument("--tenant", required=True, help="tenant slug or id")
    p_list.set_defaults(handler=cmd_principal_list)

    keys = subparsers.add_parser(
        "api-keys", help="API keys of principals: create (shown once), list, revoke"
    ).add_subparsers(dest="api_keys_command", required=True, metavar="COMMAND")
    k_create = keys.add_parser("create", help="issue an API key (shown once)")
    k_create.add_argument("--tenant", required=True, help="tenant slug or id")
    k_create.add_argument("--principal", required=True, help="principal id")
    k_create.add_argument("--name", help="a label for the key")
    k_create.add_argument("--expires-days", type=int)
    k_create.set_defaults(handler=cmd_key_create)
    k_list = keys.add_parser("list", help="a tenant's keys (prefixes only, never the secret)")
    k_list.add_argument("--tenant", required=True, help="tenant slug or id")
    k_list.set_defaults(handler=cmd_key_list)
    k_revoke = keys.add_parser("revoke", help="revoke a key at once")
    k_revoke.add_argument("--tenant", required=True, help="tenant slug or id")
    k_revoke.add_argument("key", help="key id or display prefix")
    k_revoke.set_defaults(handler=cmd_key_revoke)
