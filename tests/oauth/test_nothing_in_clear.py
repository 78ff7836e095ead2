"""Encryption at rest, black-box: after connecting a mailbox through the real consent flow,
storing mail the way sync does and reading it through the API, no table of the database holds
any of the plaintext fed in (subjects, bodies, addresses, tokens), in text or hex form."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from emulator.testing import RunningEmulator
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.kit.schema import load_all_models
from gateway.mailboxes.models import Mailbox
from tests.mail.factories import make_raw, store_message
from tests.oauth.conftest import GOOGLE_ALICE, connect
from tests.support.database import rows_as_text
from tests.support.world import TenantWorld

SUBJECT = "Confidential merger timeline Q3"
BODY = "Board approves the offer at 41 dollars per share"
CORRESPONDENT = "dana.whitfield@partner-firm.example"


def _all_rows_as_text(db: Database) -> str:
    chunks: list[str] = []
    with db.engine.connect() as conn:
        for table in load_all_models().sorted_tables:
            chunks.extend(rows_as_text(conn, table))
    return "\n".join(chunks)


def _forms(secret: str) -> list[str]:
    """The secret as text and as PostgreSQL's hex rendering of bytea."""
    return [secret, secret.encode().hex()]


@pytest.mark.clause("pp.encryption")
def test_no_plaintext_anywhere_in_the_database(gw: TestClient, db: Database,
                                               emu: RunningEmulator, crypto: CryptoService,
                                               tenant_a: TenantWorld) -> None:
    result = connect(gw, emu, tenant_a, ["read", "send"])
    assert result.outcome["status"] == "connected", result.outcome
    with db.transaction() as s:
        mailbox = s.get(Mailbox, result.mailbox_id)
        assert mailbox is not None
    store_message(db, crypto, mailbox, "18f001", "t1",
                  make_raw(SUBJECT, BODY, sender=f"Dana <{CORRESPONDENT}>", to=GOOGLE_ALICE,
                           attachment=b"%PDF-1.4 secret term sheet"))
    content = gw.get(f"/v1/mailboxes/{mailbox.id}/messages/18f001/content",
                     headers=tenant_a.crm.headers())
    assert content.status_code == 200, content.text
    assert content.json()["subject"] == SUBJECT
    timeline = gw.get(f"/v1/mailboxes/{mailbox.id}/messages",
                      params={"contact": CORRESPONDENT}, headers=tenant_a.crm.headers())
    assert [m["id"] for m in timeline.json()["items"]] == ["18f001"]

    secrets = [SUBJECT, BODY, CORRESPONDENT, GOOGLE_ALICE, "secret term sheet"]
    secrets += [t.token for t in emu.state.refresh_tokens.values() if t.email == GOOGLE_ALICE]
    secrets += [t.token for t in emu.state.access_tokens.values() if t.email == GOOGLE_ALICE]
    assert len(secrets) > 6, "the consent flow should have issued tokens"
    dump = _all_rows_as_text(db)
    assert "18f001" in dump, "the dump must contain the rows we wrote"
    for secret in secrets:
        for form in _forms(secret):
            assert form not in dump, f"plaintext found at rest: {secret[:12]}..."
