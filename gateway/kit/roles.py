"""Database roles as code: `gmail-gateway db roles` prints the SQL that creates them (PostgreSQL).

Three roles, so that the credentials the API holds cannot rewrite history:

- the **owner** (migration) role owns every table; `gmail-gateway migrate` and
  `audit maintain` run as it;
- the **app** role (`serve`, `worker`, the other commands) reads and writes the data tables,
  but on the log tables (`audit_entries`, `audit_checkpoints`, `audit_anchors`) it has only
  SELECT and INSERT, plus UPDATE of the four chaining columns of `audit_entries`, which the
  append-only trigger allows only on a row not chained yet (a row only its inserting
  transaction can see); no DELETE, no TRUNCATE, so `SET gateway.audit_purge = 'on'` gains it
  nothing;
- the **purge** role runs only `gmail-gateway audit purge`: it is a member of the owner role,
  because dropping a month's partition needs ownership; give its credentials to the retention
  job alone.

The SQL is idempotent: run it again after every migration (new tables get the app's grants).
docs/operations.md shows it with the default names, and tests/kit/test_roles.py runs exactly
that SQL on PostgreSQL and checks each role can do what it must and nothing more.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

LOG_TABLES = ("audit_entries", "audit_checkpoints", "audit_anchors")
CHAIN_HEADS = "audit_chain_heads"
CHAIN_COLUMNS = ("shard", "seq", "prev_hash", "entry_hash")
DEFAULTS = {"owner": "gateway_owner", "app": "gateway_app", "purge": "gateway_purge",
            "schema": "public"}
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _ident(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain lowercase SQL identifier: {name!r}")
    return f'"{name}"'


def roles_sql(*, owner: str = DEFAULTS["owner"], app: str = DEFAULTS["app"],
              purge: str = DEFAULTS["purge"], schema: str = DEFAULTS["schema"]) -> str:
    o, a, p, s = _ident(owner), _ident(app), _ident(purge), _ident(schema)
    log_tables = ", ".join(f"{s}.{_ident(t)}" for t in LOG_TABLES)
    entries, heads = f"{s}.{_ident('audit_entries')}", f"{s}.{_ident(CHAIN_HEADS)}"
    chain = ", ".join(CHAIN_COLUMNS)

    def create(role: str) -> str:
        return (f"DO $$ BEGIN CREATE ROLE {role} LOGIN; "
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$;")

    # Identifiers are checked by `_ident` (plain lowercase names) and quoted: nothing else
    # reaches the text.
    return "\n".join([  # noqa: S608
        "-- Roles of the Gmail gateway (gmail-gateway db roles). Run as a superuser: once",
        f"-- before the first `gmail-gateway migrate` (which then runs as {o}), and again",
        "-- after every migration. Passwords are set apart: \\password <role> in psql.",
        "BEGIN;",
        create(o), create(a), create(p),
        "-- The owner (migration) role creates and owns the schema objects.",
        f"GRANT USAGE, CREATE ON SCHEMA {s} TO {o};",
        f"DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO {o}', "
        "current_database()); END $$;",
        "-- The purge role: the retention job only; dropping partitions needs ownership.",
        f"GRANT {o} TO {p};",
        "-- The app role: the data tables in full, the log append-only.",
        "DO $$",
        "BEGIN",
        f"    IF to_regclass('{s}.\"audit_entries\"') IS NULL THEN",
        f"        RAISE NOTICE 'no gateway tables yet: run gmail-gateway migrate as {owner}, "
        "then this again';",
        "        RETURN;",
        "    END IF;",
        f"    GRANT USAGE ON SCHEMA {s} TO {a};",
        f"    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {a};",
        f"    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {a};",
        f"    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {s}.\"alembic_version\" FROM {a};",
        f"    REVOKE UPDATE, DELETE, TRUNCATE ON {log_tables} FROM {a};",
        f"    GRANT UPDATE ({chain}) ON {entries} TO {a};",
        f"    REVOKE DELETE, TRUNCATE ON {heads} FROM {a};",
        "END",
        "$$;",
        "COMMIT;",
    ]) + "\n"


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database roles").add_subparsers(
        dest="db_command", required=True, metavar="COMMAND")
    roles = db.add_parser("roles", help="print the SQL creating the owner, app and purge "
                                        "roles (PostgreSQL; idempotent)")
    for name, default in DEFAULTS.items():
        roles.add_argument(f"--{name}", default=default, help=f"default {default}")
    roles.set_defaults(handler=cmd_roles)


def cmd_roles(args: argparse.Namespace, _settings: Any) -> int:
    try:
        sql = roles_sql(owner=args.owner, app=args.app, purge=args.purge, schema=args.schema)
    except ValueError as exc:
        print(f"error [invalid_parameter]: {exc}", file=sys.stderr)
        return 2
    print(sql, end="")
    return 0
