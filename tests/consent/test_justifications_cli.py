"""`gmail-gateway justifications record|list|revoke`, end to end on a SQLite file (the embedded
default): the same rules as the API, and both changes written to the operation log."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.cli import main
from gateway.kit.db import Database
from gateway.kit.migrate import upgrade
from gateway.mailboxes.models import Mailbox

REASON = "Legal hold requested by counsel for the 2026 dispute."


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GATEWAY_KEY_FILE", str(tmp_path / "keys" / "kek.json"))
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "dev")
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) != 0
    return capsys.readouterr().err


def test_record_list_revoke(sqlite_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    upgrade(sqlite_env)  # (`gmail-gateway migrate` itself targets "head"; see the report)
    run(capsys, "tenants", "create", "acme")
    ids = {kind: run(capsys, "principals", "create", "--tenant", "acme", "--kind", kind,
                     "--subject", kind)["id"] for kind in ("reviewer", "operator", "end_user")}
    database = Database.from_url(sqlite_env)
    with database.transaction() as s:
        mailbox = Mailbox(tenant_id=run_tenant_id(s),
                          owner_principal_id=uuid.UUID(ids["end_user"]))
        s.add(mailbox)
        s.flush()
        mailbox_id = str(mailbox.id)

    base = ["justifications", "record", "--tenant", "acme", "--mailbox", mailbox_id,
            "--operator", ids["operator"], "--kind", "legal", "--reason", REASON]
    recorded = run(capsys, *base, "--recorded-by", ids["reviewer"], "--case-ref", "LEGAL-2026-7",
                   "--expires-in-minutes", "600", "--thread", "t100")
    assert recorded["status"] == "active" and recorded["case_ref"] == "LEGAL-2026-7"
    assert recorded["thread_ids"] == ["t100"] and "reason" not in recorded

    by_operator = fails(capsys, *base, "--recorded-by", ids["operator"], "--case-ref", "LEGAL-8",
                        "--expires-in-minutes", "60")
    assert "justification_recorder_not_allowed" in by_operator
    assert "validation_failed" in fails(capsys, *base, "--recorded-by", ids["reviewer"],
                                        "--case-ref", "not a ref", "--expires-in-minutes", "60")
    assert "justification_too_long" in fails(capsys, *base, "--recorded-by", ids["reviewer"],
                                             "--case-ref", "LEGAL-9",
                                             "--expires-in-minutes", str(73 * 60))

    listed = run(capsys, "justifications", "list", "--tenant", "acme", "--with-reason")
    assert [(j["id"], j["reason"]) for j in listed] == [(recorded["id"], REASON)]
    revoked = run(capsys, "justifications", "revoke", "--tenant", "acme", "--revoked-by",
                  ids["reviewer"], recorded["id"])
    assert revoked["status"] == "revoked" and revoked["revoked_by"] == ids["reviewer"]
    assert run(capsys, "justifications", "list", "--tenant", "acme", "--status", "active") == []

    with database.transaction() as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.occurred_at)))
        logged = [(e.operation, e.purpose, e.detail["justification"]["case_ref"],
                   e.detail["by_reviewer"]) for e in entries]
    assert logged == [("justification:record", "legal", "LEGAL-2026-7", ids["reviewer"]),
                      ("justification:revoke", "legal", "LEGAL-2026-7", ids["reviewer"])]
    assert REASON not in str([e.detail for e in entries])
    database.dispose()


def run_tenant_id(session: Any) -> Any:
    from gateway.accounts.service import get_tenant

    return get_tenant(session, "acme").id
