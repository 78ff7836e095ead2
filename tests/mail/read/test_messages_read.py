"""Messages from the store through the API: filters, keyset pages, views, raw bytes, and
problem+json for every kind of malformed input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.runtime import runtime_of
from tests.mail.read_fixtures import PDF, Seeded, seeded

__all__ = ["seeded"]


def ids(client: TestClient, s: Seeded, **params: Any) -> list[str]:
    response = client.get(s.url("/messages"), params=params, headers=s.world.crm.headers())
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()["items"]]


def test_newest_first_and_every_page_once(client: TestClient, seeded: Seeded) -> None:
    assert ids(client, seeded) == ["m4", "m3", "m2", "m1"]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = client.get(seeded.url("/messages"), params=params,
                          headers=seeded.world.crm.headers()).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["m4", "m3", "m2", "m1"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"label": "Label_7"}, ["m3"]),          # not Label_70: exact label ids
    ({"label": "Label_70"}, ["m4"]),
    ({"label": "SENT"}, ["m2"]),
    ({"label": "Label_"}, []),
    ({"unread": True}, ["m4", "m1"]),
    ({"unread": False}, ["m3", "m2"]),
    ({"has_attachment": True}, ["m4", "m1"]),
    ({"has_attachment": False}, ["m3", "m2"]),
    ({"thread_id": "t1"}, ["m2", "m1"]),
    ({"after": "2026-11-02T10:00:00Z"}, ["m4", "m3", "m2"]),
    ({"before": "2026-11-02T10:00:00+00:00"}, ["m1"]),
    ({"after": "2026-11-02T00:00:00Z", "before": "2026-11-04T00:00:00Z"}, ["m3", "m2"]),
    ({"contact": "carol@customer.example"}, ["m3", "m2", "m1"]),
    ({"contact": "Carol <CAROL@customer.EXAMPLE>"}, ["m3", "m2", "m1"]),
    ({"contact": "nobody@nowhere.example"}, []),
    ({"label": "INBOX", "unread": True, "has_attachment": True}, ["m4", "m1"]),
])
def test_filters(client: TestClient, seeded: Seeded, params: dict[str, Any],
                 expected: list[str]) -> None:
    assert ids(client, seeded, **params) == expected


def test_filters_page_too(client: TestClient, seeded: Seeded) -> None:
    first = client.get(seeded.url("/messages"), params={"label": "INBOX", "limit": 2},
                       headers=seeded.world.crm.headers()).json()
    assert [m["id"] for m in first["items"]] == ["m4", "m3"]
    second = client.get(seeded.url("/messages"), params={
        "label": "INBOX", "limit": 2, "cursor": first["next_cursor"]},
        headers=seeded.world.crm.headers()).json()
    assert [m["id"] for m in second["items"]] == ["m1"] and second["next_cursor"] is None


@pytest.mark.parametrize(("params", "status", "code"), [
    ({"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
    ({"cursor": "W10"}, 400, "invalid_cursor"),                        # base64 of []
    ({"cursor": "WyJ0aHJlYWRzIiwiMjAyNi0xMS0wMVQxMDowMDowMCswMDowMCIsInQxIl0"}, 400,
     "invalid_cursor"),                                                 # a thread cursor
    ({"cursor": "x" * 401}, 422, "validation_failed"),
    ({"limit": 0}, 422, "validation_failed"),
    ({"limit": 201}, 422, "validation_failed"),
    ({"limit": "ten"}, 422, "validation_failed"),
    ({"label": "INBOX%"}, 422, "validation_failed"),
    ({"label": "a" * 129}, 422, "validation_failed"),        # longer than a label id
    ({"thread_id": "t1'--"}, 422, "validation_failed"),
    ({"after": "yesterday"}, 422, "validation_failed"),
    ({"after": "2026-11-02T10:00:00"}, 422, "invalid_date"),
    ({"after": "2026-11-04T00:00:00Z", "before": "2026-11-02T00:00:00Z"}, 422,
     "invalid_date_range"),
    ({"contact": "not an address"}, 400, "invalid_address"),
    ({"contact": "x" * 400}, 422, "validation_failed"),
    ({"unread": "perhaps"}, 422, "validation_failed"),
])
def test_malformed_list_parameters_are_problems(client: TestClient, seeded: Seeded,
                                                params: dict[str, Any], status: int,
                                                code: str) -> None:
    response = client.get(seeded.url("/messages"), params=params,
                          headers=seeded.world.crm.headers())
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_metadata_and_content_views(client: TestClient, seeded: Seeded) -> None:
    headers = seeded.world.crm.headers()
    meta = client.get(seeded.url("/messages/m3"), headers=headers)
    assert meta.status_code == 200, meta.text
    body = meta.json()
    assert body["view"] == "metadata" and body["subject"] == "Lunch?"
    assert body["from"] == ["dave@other.example"] and body["cc"] == ["CAROL@Customer.Example"]
    assert body["label_ids"] == ["INBOX", "Label_7"] and body["unread"] is False
    assert "text" not in body and "html" not in body and "headers" not in body
    assert body["redacted"] == []

    content = client.get(seeded.url("/messages/m3"), params={"view": "content"},
                         headers=headers)
    assert content.status_code == 200, content.text
    full = content.json()
    assert full["view"] == "content" and full["text"].strip() == "Noon at the usual place?"
    assert "<b>usual</b>" in full["html"]
    assert {"name": "Subject", "value": "Lunch?"} in full["headers"]
    assert client.get(seeded.url("/messages/m3/content"), headers=headers).json() == full

    with_file = client.get(seeded.url("/messages/m1"), params={"view": "content"},
                           headers=headers).json()
    assert with_file["attachments"] == [{"part_id": "1", "filename": "contract.pdf",
                                         "mime_type": "application/pdf", "size": len(PDF)}]


def test_view_decides_a_different_action(client: TestClient, seeded: Seeded) -> None:
    from sqlalchemy import select

    from gateway.audit.models import AuditEntry

    headers = seeded.world.crm.headers()
    client.get(seeded.url("/messages/m1"), headers=headers)
    client.get(seeded.url("/messages/m1"), params={"view": "content"}, headers=headers)
    db = runtime_of(client.app).database
    with db.transaction() as session:
        actions = [e.action for e in session.scalars(
            select(AuditEntry).order_by(AuditEntry.occurred_at)) if e.resource_ids == ["m1"]]
    assert actions == ["mail.message.read_metadata", "mail.message.read_content"]


def test_unknown_view_is_refused_before_any_decision(client: TestClient,
                                                     seeded: Seeded) -> None:
    response = client.get(seeded.url("/messages/m1"), params={"view": "everything"},
                          headers=seeded.world.crm.headers())
    assert response.status_code == 422 and response.json()["code"] == "validation_failed"
    [error] = response.json()["errors"]
    assert error["location"] == ["query", "view"] and error["type"] == "enum"
    assert "metadata" in error["message"]


def test_raw_is_byte_identical(client: TestClient, seeded: Seeded) -> None:
    response = client.get(seeded.url("/messages/m4/raw"), headers=seeded.world.crm.headers())
    assert response.status_code == 200
    assert response.content == seeded.raws["m4"]
    assert response.headers["content-type"] == "message/rfc822"


@pytest.mark.parametrize("message_id", ["nope", "m1'", "a" * 65, "%00", "m1%0d%0a", "..%2fm1"])
def test_unknown_or_malformed_message_ids_are_404(client: TestClient, seeded: Seeded,
                                                  message_id: str) -> None:
    for suffix in ("", "/content", "/raw"):
        response = client.get(seeded.url(f"/messages/{message_id}{suffix}"),
                              headers=seeded.world.crm.headers())
        assert response.status_code == 404, (message_id, suffix, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
