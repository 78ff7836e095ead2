"""A tenant with one principal of every kind, each with an API key, and an end user's mailbox;
the settings every test app runs with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from gateway.accounts import service as accounts
from gateway.accounts.models import Principal, Tenant
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import SCOPE_READONLY, SCOPE_SEND
from gateway.settings import Environment, Settings

ROOT = Path(__file__).resolve().parents[2]
TEST_PEPPER = "test-pepper-0123456789abcdef"


def make_settings(database_url: str, tmp: Path, opa_url: str | None) -> Settings:
    return Settings(environment=Environment.test, database_url=database_url, data_dir=tmp,
                    key_file=tmp / "keys" / "kek.json", policy_engine_url=opa_url,
                    policy_dir=ROOT / "policies", api_key_pepper=SecretStr(TEST_PEPPER))


@dataclass
class Actor:
    principal: Principal
    key: str

    @property
    def id(self) -> str:
        return str(self.principal.id)

    def headers(self, purpose: str | None = "user_facing") -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}"}
        if purpose is not None:
            headers["Gateway-Purpose"] = purpose
        return headers


@dataclass
class TenantWorld:
    tenant: Tenant
    end_user: Actor
    other_user: Actor
    crm: Actor
    operator: Actor
    reviewer: Actor
    analytics: Actor
    mailbox: Mailbox


def build_tenant(db: Database, slug: str) -> TenantWorld:
    pepper = TEST_PEPPER.encode()
    with db.transaction() as s:
        tenant = accounts.create_tenant(s, slug)

        def actor(kind: str, subject: str, groups: list[str] | None = None) -> Actor:
            principal = accounts.create_principal(s, tenant, kind, subject, groups=groups)
            return Actor(principal, accounts.create_api_key(s, pepper, principal).secret)

        world = TenantWorld(
            tenant=tenant,
            end_user=actor("end_user", "alice@" + slug),
            other_user=actor("end_user", "bob@" + slug),
            crm=actor("crm_service", "crm-backend"),
            operator=actor("operator", "support-1", ["support"]),
            reviewer=actor("reviewer", "auditor-1"),
            analytics=actor("analytics", "metrics-job"),
            mailbox=Mailbox(),
        )
        mailbox = Mailbox(tenant_id=tenant.id, owner_principal_id=world.end_user.principal.id,
                          granted_scopes=[SCOPE_READONLY, SCOPE_SEND])
        s.add(mailbox)
        s.flush()
        world.mailbox = mailbox
    return world
