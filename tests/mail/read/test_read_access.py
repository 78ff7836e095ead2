"""Who may read what, per route: another tenant's ids and a colleague's mailbox are 404 (ids are
never confirmed); a human operator without the owner's grant gets redacted metadata where the
policy allows it and never content; with a grant, exactly what it covers."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.mail.read_fixtures import PDF, Seeded, seeded
from tests.support.world import TenantWorld

__all__ = ["seeded"]

SECRETS = ("Contract for Q1", "Please sign the contract", "carol@customer.example",
           "Lunch?", "dave@other.example")

# (method, path under the mailbox, JSON body)
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/messages", None),
    ("GET", "/messages/m1", None),
    ("GET", "/messages/m1?view=content", None),
    ("GET", "/messages/m1/content", None),
    ("GET", "/messages/m1/raw", None),
    ("GET", "/messages/m1/attachments/1", None),
    ("GET", "/threads", None),
    ("GET", "/threads/t1", None),
    ("GET", "/threads/t1?view=content", None),
    ("POST", "/search", {"q": "contract"}),
    ("POST", "/contact-timeline", {"address": "carol@customer.example"}),
]
ROUTE_IDS = [f"{m} {p}" for m, p, _ in ROUTES]


def call(client: TestClient, world: TenantWorld, actor: Any, method: str, path: str,
         body: dict[str, Any] | None, purpose: str = "user_facing") -> Any:
    return client.request(method, f"/v1/mailboxes/{world.mailbox.id}{path}", json=body,
                          headers=actor.headers(purpose))


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_another_tenant_gets_404(client: TestClient, seeded: Seeded, method: str, path: str,
                                 body: dict[str, Any] | None) -> None:
    response = call(client, seeded.world, seeded.other.crm, method, path, body)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "mailbox_not_found"
    assert not any(s in response.text for s in SECRETS)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_a_colleagues_mailbox_is_404(client: TestClient, seeded: Seeded, method: str,
                                     path: str, body: dict[str, Any] | None) -> None:
    response = call(client, seeded.world, seeded.world.other_user, method, path, body)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "mailbox_not_found"


@pytest.mark.parametrize(("method", "path", "body"),
                         [r for r in ROUTES if "m1" in r[1] or "t1" in r[1]],
                         ids=[i for i, r in zip(ROUTE_IDS, ROUTES, strict=True)
                              if "m1" in r[1] or "t1" in r[1]])
def test_another_mailboxs_message_or_thread_is_404(client: TestClient, seeded: Seeded,
                                                   method: str, path: str,
                                                   body: dict[str, Any] | None) -> None:
    """Tenant B's ids under tenant A's mailbox (the caller may read A, not B's objects)."""
    foreign = path.replace("m1", "b1").replace("t1", "tb")
    response = call(client, seeded.world, seeded.world.crm, method, foreign, body)
    assert response.status_code == 404, response.text
    assert response.json()["code"] in ("message_not_found", "thread_not_found")


def test_the_owner_and_the_crm_read_everything(client: TestClient, seeded: Seeded) -> None:
    for actor in (seeded.world.end_user, seeded.world.crm):
        for method, path, body in ROUTES:
            if path == "/search":
                continue  # needs Gmail: tests/mail/read/test_read_blackbox.py
            response = call(client, seeded.world, actor, method, path, body)
            assert response.status_code == 200, (path, response.text)


OPERATOR_METADATA = ["/messages", "/messages/m1", "/threads", "/threads/t1"]
OPERATOR_DENIED = [
    ("GET", "/messages/m1?view=content", None, "consent_required"),
    ("GET", "/messages/m1/content", None, "consent_required"),
    ("GET", "/messages/m1/raw", None, "consent_required"),
    ("GET", "/messages/m1/attachments/1", None, "consent_required"),
    ("GET", "/threads/t1?view=content", None, "consent_required"),
    ("POST", "/search", {"q": "contract"}, "purpose_not_permitted"),
    ("POST", "/contact-timeline", {"address": "carol@customer.example"},
     "action_not_permitted"),
]


@pytest.mark.parametrize("path", OPERATOR_METADATA)
def test_an_operator_without_grant_gets_redacted_metadata(client: TestClient, seeded: Seeded,
                                                          path: str) -> None:
    response = call(client, seeded.world, seeded.world.operator, "GET", path, None, "support")
    assert response.status_code == 200, response.text
    assert not any(s in response.text for s in SECRETS), response.text
    body = response.json()
    items = body.get("items") or body.get("messages") or [body]
    assert items
    for item in items:
        assert "subject" not in item and "from" not in item and "participants" not in item
        assert "subject" in item["redacted"]


@pytest.mark.parametrize(("method", "path", "body", "reason"), OPERATOR_DENIED,
                         ids=[f"{m} {p}" for m, p, _, _ in OPERATOR_DENIED])
@pytest.mark.clause("lu.human_reading", "pp.encryption")
def test_an_operator_without_grant_never_gets_content(client: TestClient, seeded: Seeded,
                                                      method: str, path: str,
                                                      body: dict[str, Any] | None,
                                                      reason: str) -> None:
    response = call(client, seeded.world, seeded.world.operator, method, path, body, "support")
    assert response.status_code == 403, response.text
    assert reason in response.json()["reasons"]
    assert not any(s in response.text for s in SECRETS)
    assert PDF[:20] not in response.content


def test_an_operator_sees_the_mailbox_without_its_address(client: TestClient,
                                                          seeded: Seeded) -> None:
    response = client.get(f"/v1/mailboxes/{seeded.world.mailbox.id}",
                          headers=seeded.world.operator.headers("support"))
    assert response.status_code == 200, response.text
    assert response.json()["email_address"] is None
    assert response.json()["redacted"] == ["email_address"]
    assert response.json()["features"] == ["read", "send"]


def grant(client: TestClient, world: TenantWorld, **body: Any) -> None:
    response = client.post(f"/v1/mailboxes/{world.mailbox.id}/consent/grants",
                           json={"operator_id": world.operator.id, **body},
                           headers=world.end_user.headers("consent_management"))
    assert response.status_code == 201, response.text


def test_a_message_grant_opens_that_message_only(client: TestClient, seeded: Seeded) -> None:
    world = seeded.world
    grant(client, world, message_ids=["m1"])
    content = call(client, world, world.operator, "GET", "/messages/m1?view=content", None,
                   "support")
    assert content.status_code == 200, content.text
    assert content.json()["subject"] == "Contract for Q1" and content.json()["redacted"] == []
    pdf = call(client, world, world.operator, "GET", "/messages/m1/attachments/1", None,
               "support")
    assert pdf.status_code == 200 and pdf.content == PDF
    assert call(client, world, world.operator, "GET", "/messages/m3?view=content", None,
                "support").status_code == 403
    assert call(client, world, world.operator, "GET", "/threads/t1?view=content", None,
                "support").status_code == 403   # a message grant is not a thread grant
    listed = call(client, world, world.operator, "GET", "/messages", None, "support").json()
    assert all("subject" not in m for m in listed["items"])   # lists stay redacted


def test_a_thread_grant_opens_the_thread(client: TestClient, seeded: Seeded) -> None:
    world = seeded.world
    grant(client, world, thread_ids=["t1"])
    thread = call(client, world, world.operator, "GET", "/threads/t1?view=content", None,
                  "support")
    assert thread.status_code == 200, thread.text
    assert [m["id"] for m in thread.json()["messages"]] == ["m1", "m2"]
    assert thread.json()["messages"][1]["text"].strip() == "Signed."
    assert call(client, world, world.operator, "GET", "/threads/t2?view=content", None,
                "support").status_code == 403
