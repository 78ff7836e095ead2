"""The right of access and portability, black-box: the owner (or the CRM service for them)
exports the mailbox's synced data as newline-delimited JSON, also while processing is
restricted; the raw messages come back byte for byte; nobody else gets it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.kit.db import Database
from gateway.mail.read import export
from gateway.runtime import runtime_of
from tests.mail.factories import make_raw, store_message
from tests.support.world import TenantWorld


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def _seed(client: TestClient, db: Database, world: TenantWorld) -> dict[str, bytes]:
    raws = {f"e{n}": make_raw(f"Export {n}", f"body number {n}") for n in range(3)}
    for gmail_id, raw in raws.items():
        store_message(db, runtime_of(client.app).crypto, world.mailbox, gmail_id, "t1", raw)
    return raws


@pytest.mark.clause("pp.user_rights")
def test_the_owner_exports_everything_byte_for_byte(
        client: TestClient, db: Database, tenant_a: TenantWorld,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "PAGE", 2)  # three messages: two pages
    raws = _seed(client, db, tenant_a)
    url = f"/v1/mailboxes/{tenant_a.mailbox.id}/export"
    response = client.get(url, headers=tenant_a.end_user.headers("user_rights"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in response.headers["content-disposition"]
    lines = _lines(response.text)
    assert lines[0]["type"] == "mailbox" and lines[0]["format"] == export.FORMAT
    assert lines[0]["mailbox_id"] == str(tenant_a.mailbox.id)
    assert lines[-1] == {"type": "end", "messages": 3}
    messages = {line["id"]: line for line in lines[1:-1]}
    assert set(messages) == set(raws)
    for gmail_id, raw in raws.items():
        assert base64.urlsafe_b64decode(messages[gmail_id]["raw"]) == raw
        assert messages[gmail_id]["text"].strip() == f"body number {gmail_id[1:]}"

    crm = client.get(url, headers=tenant_a.crm.headers("user_rights"))
    assert crm.status_code == 200 and _lines(crm.text)[-1]["messages"] == 3


def test_a_restricted_mailbox_still_exports(client: TestClient, db: Database,
                                            tenant_a: TenantWorld) -> None:
    _seed(client, db, tenant_a)
    owner = tenant_a.end_user.headers("user_rights")
    base = f"/v1/mailboxes/{tenant_a.mailbox.id}"
    assert client.put(f"{base}/restriction", headers=owner).json()["state"] == "restricted"
    response = client.get(f"{base}/export", headers=owner)
    assert response.status_code == 200
    lines = _lines(response.text)
    assert lines[0]["state"] == "restricted" and lines[-1]["messages"] == 3


def test_nobody_else_exports(client: TestClient, db: Database, tenant_a: TenantWorld,
                             tenant_b: TenantWorld) -> None:
    _seed(client, db, tenant_a)
    url = f"/v1/mailboxes/{tenant_a.mailbox.id}/export"
    refusals = {
        "colleague": client.get(url, headers=tenant_a.other_user.headers("user_rights")),
        "operator": client.get(url, headers=tenant_a.operator.headers("support")),
        "reviewer": client.get(url, headers=tenant_a.reviewer.headers("audit_review")),
        "wrong purpose": client.get(url, headers=tenant_a.end_user.headers("user_facing")),
        "other tenant": client.get(url, headers=tenant_b.crm.headers("user_rights")),
    }
    for who, response in refusals.items():
        expected = 404 if who == "other tenant" else 403  # another tenant's id is unseen
        assert response.status_code == expected, who
        assert "body number" not in response.text, who
    assert "purpose_not_permitted" in refusals["wrong purpose"].json()["reasons"]
