"""Threads from the store: newest activity first with counts and participants, keyset pages,
and a thread's messages in either view."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.runtime import runtime_of
from tests.mail.read_fixtures import Seeded, seeded

__all__ = ["seeded"]


def threads(client: TestClient, s: Seeded, **params: Any) -> dict[str, Any]:
    response = client.get(s.url("/threads"), params=params, headers=s.world.crm.headers())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_threads_newest_activity_first_with_counts(client: TestClient, seeded: Seeded) -> None:
    items = threads(client, seeded)["items"]
    assert [t["id"] for t in items] == ["t3", "t2", "t1"]
    t1 = items[2]
    assert t1["message_count"] == 2 and t1["unread_count"] == 1
    assert t1["attachment_count"] == 1
    assert t1["first_message_at"].startswith("2026-11-01T10:00:00")
    assert t1["last_message_at"].startswith("2026-11-02T10:00:00")
    assert t1["subject"] == "Re: Contract for Q1" and t1["snippet"] == "Signed."
    assert t1["participants"] == ["alice@tenant-a.example", "carol@customer.example"]
    assert t1["redacted"] == []
    t2 = items[1]
    assert t2["participants"] == ["alice@tenant-a.example", "carol@customer.example",
                                  "dave@other.example"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"label": "SENT"}, ["t1"]),
    ({"label": "Label_7"}, ["t2"]),
    ({"unread": True}, ["t3", "t1"]),
    ({"unread": False}, ["t2"]),
    ({"has_attachment": True}, ["t3", "t1"]),
    ({"has_attachment": False}, ["t2"]),
])
def test_thread_filters(client: TestClient, seeded: Seeded, params: dict[str, Any],
                        expected: list[str]) -> None:
    assert [t["id"] for t in threads(client, seeded, **params)["items"]] == expected


def test_thread_pages(client: TestClient, seeded: Seeded) -> None:
    seen, cursor = [], None
    for _ in range(4):
        page = threads(client, seeded, limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["t3", "t2", "t1"]


def test_get_thread_views_and_pages(client: TestClient, seeded: Seeded) -> None:
    headers = seeded.world.crm.headers()
    meta = client.get(seeded.url("/threads/t1"), headers=headers)
    assert meta.status_code == 200, meta.text
    body = meta.json()
    assert body["view"] == "metadata" and body["message_count"] == 2
    assert [m["id"] for m in body["messages"]] == ["m1", "m2"]   # oldest first
    assert all("text" not in m for m in body["messages"])

    content = client.get(seeded.url("/threads/t1"), params={"view": "content"},
                         headers=headers).json()
    assert [m["text"].strip() for m in content["messages"]] == ["Please sign the contract.",
                                                                 "Signed."]
    first = client.get(seeded.url("/threads/t1"), params={"limit": 1}, headers=headers).json()
    assert [m["id"] for m in first["messages"]] == ["m1"] and first["next_cursor"]
    second = client.get(seeded.url("/threads/t1"), params={
        "limit": 1, "cursor": first["next_cursor"]}, headers=headers).json()
    assert [m["id"] for m in second["messages"]] == ["m2"] and second["next_cursor"] is None


@pytest.mark.parametrize(("path", "params", "status", "code"), [
    ("/threads", {"cursor": "garbage"}, 400, "invalid_cursor"),
    ("/threads", {"limit": 101}, 422, "validation_failed"),
    ("/threads", {"label": "a b"}, 422, "validation_failed"),
    ("/threads/t1", {"cursor": "garbage"}, 400, "invalid_cursor"),
    ("/threads/t1", {"limit": 0}, 422, "validation_failed"),
    ("/threads/t1", {"limit": "x"}, 422, "validation_failed"),
    ("/threads/t1", {"view": "raw"}, 422, "validation_failed"),
    ("/threads/nope", {}, 404, "thread_not_found"),
    ("/threads/t1%27", {}, 404, "thread_not_found"),
])
def test_thread_problems(client: TestClient, seeded: Seeded, path: str,
                         params: dict[str, Any], status: int, code: str) -> None:
    response = client.get(seeded.url(path), params=params, headers=seeded.world.crm.headers())
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_a_message_cursor_is_not_a_thread_cursor(client: TestClient, seeded: Seeded) -> None:
    page = client.get(seeded.url("/messages"), params={"limit": 1},
                      headers=seeded.world.crm.headers()).json()
    response = client.get(seeded.url("/threads"), params={"cursor": page["next_cursor"]},
                          headers=seeded.world.crm.headers())
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


def test_a_thread_reappearing_below_the_cursor_is_served_once(client: TestClient,
                                                              seeded: Seeded) -> None:
    from tests.mail.factories import make_raw, store_message
    from tests.mail.read_fixtures import day

    runtime = runtime_of(client.app)
    store_message(runtime.database, runtime.crypto, seeded.world.mailbox,
                  "m5", "t1", make_raw("Re: Re: Contract for Q1", "Countersigned.", date=day(5)),
                  ["SENT"], internal_date=day(5))

    def walk(**params: Any) -> list[str]:
        seen, cursor = [], None
        for _ in range(6):
            page = threads(client, seeded, limit=1, **params,
                           **({"cursor": cursor} if cursor else {}))
            seen += [t["id"] for t in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        return seen

    assert walk() == ["t1", "t3", "t2"]
    # Ordered by the newest *matching* message: t1's newest INBOX message is from day 1.
    assert walk(label="INBOX") == ["t3", "t2", "t1"]
    assert walk(unread=False) == ["t2"]
    t1 = threads(client, seeded)["items"][0]
    assert t1["id"] == "t1" and t1["message_count"] == 3
    assert t1["last_message_at"].startswith("2026-11-05")
