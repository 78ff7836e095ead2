"""Helpers of the page tests: a session link asked for over the API, opened by a client."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.kit.db import Database
from tests.support.world import Actor

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def ask_link(client: TestClient, crm: Actor, principal_id: str, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/sessions", headers=crm.headers(),
                           json={"principal_id": principal_id, **body})
    assert response.status_code == 201, response.text
    link: dict[str, Any] = response.json()
    return link


def link_path(link: dict[str, Any]) -> str:
    return urlsplit(str(link["url"])).path


def sign_in(client: TestClient, crm: Actor, person: Actor) -> dict[str, Any]:
    """The CRM asks for `person`'s link and the client opens it: the cookie is set."""
    link = ask_link(client, crm, person.id)
    opened = client.get(link_path(link), follow_redirects=False)
    assert opened.status_code == 303, opened.text
    return link


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def log_entries(db: Database, action: str) -> list[AuditEntry]:
    with db.transaction() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.occurred_at)))
