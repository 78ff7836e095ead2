"""A scripted scenario for the compliance report: prohibited purposes refused, an operator
reading under a grant (and refused without one), a security justification, an aggregate over
too small a cohort, an export and an erasure, then a checkpoint. `Scenario` keeps what each
step should show in the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from gateway.kit.db import Database
from gateway.runtime import runtime_of
from gateway.settings import Settings
from tests.mail.factories import make_raw, store_message
from tests.support.world import ROOT, TEST_PEPPER, TenantWorld

PROHIBITED = ("advertising", "credit_scoring", "ai_training", "data_sale")
SUBJECT = "Quarterly figures, do not share"
BODY = "Margin is 41 percent."


@dataclass
class Scenario:
    world: TenantWorld
    since: datetime
    grant_id: str = ""
    justification_id: str = ""
    operator_reads: list[str] = field(default_factory=list)


def _ok(response: object, status: int = 200) -> None:
    code = getattr(response, "status_code", None)
    assert code == status, getattr(response, "text", "")


def play(client: TestClient, db: Database, world: TenantWorld) -> Scenario:
    since = datetime.now(UTC) - timedelta(seconds=5)
    crypto = runtime_of(client.app).crypto
    mailbox = f"/v1/mailboxes/{world.mailbox.id}"
    for gmail_id in ("18c0a1", "18c0a2", "18c0b1"):
        store_message(db, crypto, world.mailbox, gmail_id, "t" + gmail_id,
                      make_raw(SUBJECT, BODY))
    scenario = Scenario(world, since)

    for purpose in PROHIBITED:  # four refused prohibited purposes
        _ok(client.get("/v1/mailboxes", headers=world.crm.headers(purpose)), 403)

    # An operator: refused without consent, then reading one message under the owner's grant.
    read = f"{mailbox}/messages/18c0a1/content"
    _ok(client.get(read, headers=world.operator.headers("support")), 403)
    granted = client.post(f"{mailbox}/consent/grants", json={
        "operator_id": world.operator.id, "message_ids": ["18c0a1"], "expires_in_minutes": 30},
        headers=world.end_user.headers("consent_management"))
    _ok(granted, 201)
    scenario.grant_id = granted.json()["id"]
    _ok(client.get(read, headers=world.operator.headers("support")))

    # A reviewer records a security justification; the operator reads another message under it.
    recorded = client.post(f"{mailbox}/justifications", json={
        "kind": "security", "case_ref": "SEC-2026-0042", "reason": "Phishing sent from here",
        "expires_in_minutes": 120, "operator_id": world.operator.id},
        headers=world.reviewer.headers("security"))
    _ok(recorded, 201)
    scenario.justification_id = recorded.json()["id"]
    _ok(client.get(f"{mailbox}/messages/18c0a2/content",
                   headers=world.operator.headers("security")))

    # An aggregate over one mailbox: below k, refused.
    _ok(client.get("/v1/analytics/message-volume", params={"days": 30, "group_by": "day"},
                   headers=world.analytics.headers("analytics_internal")), 403)

    # The owner exports the mailbox; the CRM erases it (disconnect, crypto-shredding).
    exported = client.get(f"{mailbox}/export", headers=world.end_user.headers("user_rights"))
    _ok(exported)
    _ok(client.delete(f"{mailbox}/connection", headers=world.crm.headers("user_rights")))

    # Every chain's tail signed now, so the report's verification shows no unsigned tail.
    _ok(client.post("/v1/audit/checkpoints", headers=world.reviewer.headers("audit_review")))
    return scenario


def cli_environment(settings: Settings) -> dict[str, str]:
    """`gmail-gateway` run in-process on the test app's database, keys and OPA server."""
    return {"GATEWAY_DATABASE_URL": settings.database_url,
            "GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_ENVIRONMENT": "test",
            "GATEWAY_KEY_FILE": str(settings.key_file),
            "GATEWAY_POLICY_ENGINE_URL": settings.policy_engine_url or "",
            "GATEWAY_POLICY_DIR": str(ROOT / "policies"), "GATEWAY_API_KEY_PEPPER": TEST_PEPPER}
