"""Erasure, black-box: a canary planted in every free-text field a caller can write about a
user's mail (the synced mail itself, the CRM's return URL of the consent flow, an operator's
access-request justification, a reviewer's justification reason) is readable through the API
while the mailbox lives; after the owner's disconnect-and-delete, no column of any table of
the raw database holds it, as text, as PostgreSQL's hex of bytes, or base64-encoded."""

from __future__ import annotations

import base64
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from emulator.testing import RunningEmulator
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.kit.schema import load_all_models
from gateway.mailboxes.models import Mailbox
from tests.mail.factories import make_raw, store_message
from tests.oauth.conftest import connect, start_connect
from tests.support.database import rows_as_text
from tests.support.world import TenantWorld

CANARY = "CanaryQz7Wx" + uuid.uuid4().hex[:10]


def _hits(db: Database, needle: str = CANARY) -> list[str]:
    """Every table of every non-system schema (partitions included), every row as text."""
    forms = [needle, needle.encode().hex(), base64.b64encode(needle.encode()).decode()[:12]]
    found: list[str] = []
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # one schema, no partitions: the models' tables
            for table in load_all_models().sorted_tables:
                found += [f"{table.name}: {form}" for row in rows_as_text(conn, table)
                          for form in forms if form in row]
            return found
        tables = conn.execute(text(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%'")).scalars().all()
        assert "public.consent_requests" in tables
        for table in tables:
            for row in conn.execute(text(f"SELECT t::text FROM {table} t")).scalars():
                found += [f"{table}: {form}" for form in forms if form in row]
    return found


@pytest.mark.clause("pp.deletion")
def test_nothing_written_about_the_user_survives_erasure(
        gw: TestClient, db: Database, emu: RunningEmulator, crypto: CryptoService,
        tenant_a: TenantWorld) -> None:
    return_url = f"https://crm.example.test/settings/gmail?note={CANARY}"
    consent_url = start_connect(gw, tenant_a, ["read"], return_url=return_url)
    mailbox_id = connect(gw, emu, tenant_a, consent_url=consent_url).mailbox_id
    with db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
    store_message(db, crypto, mailbox, "18e001", "t1",
                  make_raw(f"Subject {CANARY}", f"Body {CANARY}", sender=f"{CANARY}@x.example"))
    base = f"/v1/mailboxes/{mailbox_id}"
    requested = gw.post(f"{base}/consent/requests", json={
        "message_ids": ["18e001"], "justification": f"Customer says {CANARY} bounced"},
        headers=tenant_a.operator.headers("consent_management"))
    assert requested.status_code == 201, requested.text
    assert requested.json()["justification"] == f"Customer says {CANARY} bounced"
    recorded = gw.post(f"{base}/justifications", json={
        "kind": "security", "case_ref": "SEC-2026-0042", "reason": f"Abuse report {CANARY}",
        "operator_id": tenant_a.operator.id, "expires_in_minutes": 60},
        headers=tenant_a.reviewer.headers("security"))
    assert recorded.status_code == 201, recorded.text
    assert _hits(db, "SEC-2026-0042"), "the scan must find what is stored in clear"
    assert _hits(db, "18e001"), "the scan must find what is stored in clear"

    erased = gw.delete(f"{base}/connection", headers=tenant_a.crm.headers())
    assert erased.status_code == 200 and erased.json()["data_deleted"] is True, erased.text

    assert _hits(db) == []
    overview = gw.get(f"{base}/consent", headers=tenant_a.end_user.headers("consent_management"))
    assert overview.status_code == 200, overview.text
    (request,) = overview.json()["requests"]
    assert request["id"] == requested.json()["id"] and request["justification"] is None
