"""`gmail-gateway demo`: everything the README walkthrough needs, in one command.

It provisions a demo tenant (created once, reused afterwards) with an end user, the CRM's service
principal, an operator, a reviewer and a tenant admin, issues fresh API keys for the CRM, the
reviewer and the admin (the operator and the end user use pages only), and asks the
running gateway for a consent link over its own API (`POST /v1/connect` with the CRM key, so
the link is decided by policy and logged like any CRM's). It prints the link and writes the
values into `<data dir>/demo.env` (mode 0600: it holds API keys) for `source`.

The consent link names no return URL, so the browser ends on the gateway's own result page.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway.settings import Settings

DEMO_FEATURES = ("read", "send", "labels")
END_USER = ("dana", "Dana Demo")
CRM_SERVICE = ("crm-backend", "Demo CRM backend")
REVIEWER = ("auditor", "Demo reviewer")
OPERATOR = ("sam", "Sam Support")
ADMIN = ("admin", "Demo tenant admin")


class DemoFailed(Exception):
    """The demo could not be set up; the message says what to do."""


@dataclass(frozen=True)
class Demo:
    gateway_url: str
    tenant: str
    end_user_id: str
    operator_id: str
    reviewer_id: str
    crm_key: str
    reviewer_key: str
    admin_key: str
    consent_url: str
    expires_at: str
    features: list[str]
    env_file: str

    def shell_exports(self) -> str:
        pairs = {"GW": self.gateway_url, "CRM_KEY": self.crm_key,
                 "REVIEWER_KEY": self.reviewer_key, "ADMIN_KEY": self.admin_key,
                 "END_USER_ID": self.end_user_id, "OPERATOR_ID": self.operator_id,
                 "REVIEWER_ID": self.reviewer_id, "CONNECT_URL": self.consent_url}
        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in pairs.items())


@dataclass(frozen=True)
class _Provisioned:
    end_user_id: uuid.UUID
    operator_id: uuid.UUID
    reviewer_id: uuid.UUID
    crm_key: str
    reviewer_key: str
    admin_key: str


def provision(settings: Settings, slug: str, tenant_name: str) -> _Provisioned:
    """The tenant and its five principals (reused when they exist) and three fresh keys."""
    from gateway.accounts import service
    from gateway.accounts.models import Principal
    from gateway.crypto.pepper import load_pepper
    from gateway.kit.db import Database
    from gateway.kit.errors import NotFound

    pepper = load_pepper(settings)
    db = Database.from_url(settings.database_url)
    try:
        with db.transaction() as session:
            try:
                tenant = service.get_tenant(session, slug)
            except NotFound:
                tenant = service.create_tenant(session, slug, tenant_name)
            existing = {(p.kind, p.subject): p for p in service.list_principals(session, tenant)}

            def principal(kind: str, subject: str, display_name: str) -> Principal:
                found = existing.get((kind, subject))
                if found is not None and found.disabled_at is None:
                    return found
                if found is not None:
                    raise DemoFailed(f"the demo's {kind} {subject!r} is disabled")
                return service.create_principal(session, tenant, kind, subject, display_name)

            end_user = principal("end_user", *END_USER)
            crm = principal("crm_service", *CRM_SERVICE)
            reviewer = principal("reviewer", *REVIEWER)
            operator = principal("operator", *OPERATOR)
            admin = principal("tenant_admin", *ADMIN)
            return _Provisioned(
                end_user_id=end_user.id, operator_id=operator.id, reviewer_id=reviewer.id,
                crm_key=service.create_api_key(session, pepper, crm, "demo").secret,
                reviewer_key=service.create_api_key(session, pepper, reviewer, "demo").secret,
                admin_key=service.create_api_key(session, pepper, admin, "demo").secret)
    finally:
        db.dispose()


def request_link(gateway_url: str, crm_key: str, end_user_id: uuid.UUID,
                 features: list[str], return_url: str | None) -> dict[str, Any]:
    """`POST /v1/connect` on the running gateway, as the CRM would."""
    import httpx

    body: dict[str, Any] = {"end_user_id": str(end_user_id), "features": features}
    if return_url:
        body["return_url"] = return_url
    try:
        response = httpx.post(f"{gateway_url.rstrip('/')}/v1/connect", json=body, timeout=30,
                              headers={"Authorization": f"Bearer {crm_key}",
                                       "Gateway-Purpose": "user_facing"})
    except httpx.HTTPError as exc:
        raise DemoFailed(f"the gateway at {gateway_url} does not answer ({exc.__class__.__name__}"
                         "); start it with scripts/run.sh (or set GATEWAY_PORT / "
                         "GATEWAY_PUBLIC_BASE_URL to where it runs)") from None
    if response.status_code != 201:
        raise DemoFailed(f"POST /v1/connect answered {response.status_code}: {response.text}")
    link: dict[str, Any] = response.json()
    return link


def write_env(path: Path, demo: Demo) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# written by `gmail-gateway demo`; holds API keys\n" + demo.shell_exports())
    path.chmod(0o600)


def run_demo(settings: Settings, *, slug: str, tenant_name: str, features: list[str],
             return_url: str | None, gateway_url: str | None) -> Demo:
    url = gateway_url or settings.public_base_url
    made = provision(settings, slug, tenant_name)
    link = request_link(url, made.crm_key, made.end_user_id, features, return_url)
    env_file = settings.data_dir / "demo.env"
    demo = Demo(gateway_url=url.rstrip("/"), tenant=slug, end_user_id=str(made.end_user_id),
                operator_id=str(made.operator_id), reviewer_id=str(made.reviewer_id),
                crm_key=made.crm_key, reviewer_key=made.reviewer_key, admin_key=made.admin_key,
                consent_url=str(link["consent_url"]), expires_at=str(link["expires_at"]),
                features=list(link["features"]), env_file=str(env_file))
    write_env(env_file, demo)
    return demo


def describe(demo: Demo) -> str:
    return f"""Demo tenant {demo.tenant!r}: end user {END_USER[1]} ({demo.end_user_id}),
operator {OPERATOR[1]} ({demo.operator_id}), a reviewer ({demo.reviewer_id}), and API keys
for the CRM backend, the reviewer and a tenant admin.

1. Open this link in a browser to connect the demo user's Gmail (works once, expires
   {demo.expires_at}; asks for: {", ".join(demo.features)}):

   {demo.consent_url}

   Read the gateway's page, press "Continue to Google", keep the boxes ticked on the
   emulator's Google page and press "Continue". The result page lists what was granted.

2. The API keys, shown once (the gateway keeps only their keyed hashes):

   CRM backend   {demo.crm_key}
   reviewer      {demo.reviewer_key}
   tenant admin  {demo.admin_key}

   They are also in {demo.env_file} (mode 0600) with the gateway's URL, the end user's id and
   the link; load them into your shell for the README's commands:

   source {demo.env_file}

3. People reach their pages (privacy center, access desk, review console) through a one-time
   link the CRM asks for: POST /v1/sessions with the CRM key and the person's principal id
   (README, "See it as its people do"; docs/pages.md).
"""


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    try:
        demo = run_demo(settings, slug=args.tenant, tenant_name=args.tenant_name,
                        features=args.feature or list(DEMO_FEATURES),
                        return_url=args.return_url, gateway_url=args.gateway_url)
    except DemoFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(demo), indent=2) if args.json else describe(demo))
    return 0


def add_commands(sub: Any) -> None:
    demo = sub.add_parser("demo", help="set up a demo tenant, API keys and a consent link "
                          "(needs the gateway running: scripts/run.sh)")
    demo.add_argument("--tenant", default="demo", help="tenant slug (created if missing)")
    demo.add_argument("--tenant-name", default="Demo CRM")
    demo.add_argument("--feature", action="append", choices=["read", "send", "organise",
                                                             "labels"],
                      help="feature to ask for (repeatable; default read, send, labels)")
    demo.add_argument("--return-url", help="send the browser back here (on the allow-list); "
                      "default: the gateway's own result page")
    demo.add_argument("--gateway-url", help="where the gateway runs (default "
                      "GATEWAY_PUBLIC_BASE_URL, else http://127.0.0.1:GATEWAY_PORT)")
    demo.add_argument("--json", action="store_true", help="print JSON instead of the guide")
    demo.set_defaults(handler=cmd_demo)
