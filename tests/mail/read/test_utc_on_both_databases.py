"""Datetimes and cursors are the same on PostgreSQL and SQLite (run with `--db sqlite` too):
every datetime the API serves is UTC with a `Z`, and a page cursor carries the sort key in UTC
with a `Z`, so a cursor issued on one database reads the same on the other."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from fastapi.testclient import TestClient

from gateway.mail.read.pagination import decode_cursor
from tests.mail.read_fixtures import Seeded, seeded

__all__ = ["seeded"]


UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _datetimes(value: Any, path: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _datetimes(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _datetimes(item, f"{path}[{index}]")
    elif isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d", value):
        found.append((path, value))
    return found


def test_every_served_datetime_is_utc_with_z(client: TestClient, seeded: Seeded) -> None:
    headers = seeded.world.crm.headers()
    bodies = [client.get(seeded.url(), headers=headers).json(),
              client.get(seeded.url("/messages"), headers=headers).json(),
              client.get(seeded.url("/threads"), headers=headers).json()]
    stamps = [stamp for body in bodies for stamp in _datetimes(body)]
    assert len(stamps) >= 5  # the mailbox's, every message's, every thread's
    assert [s for s in stamps if not UTC_Z.match(s[1])] == []


def test_a_cursor_carries_its_sort_key_in_utc_and_is_accepted(client: TestClient,
                                                             seeded: Seeded) -> None:
    headers = seeded.world.crm.headers()
    first = client.get(seeded.url("/messages"), params={"limit": 1}, headers=headers).json()
    cursor = first["next_cursor"]
    padded = cursor + "=" * (-len(cursor) % 4)
    kind, when, _key = json.loads(base64.urlsafe_b64decode(padded))
    assert kind == "messages" and UTC_Z.match(when)
    assert when == first["items"][0]["internal_date"]
    assert decode_cursor(cursor)[0].utcoffset() is not None
    second = client.get(seeded.url("/messages"), params={"limit": 1, "cursor": cursor},
                        headers=headers)
    assert second.status_code == 200, second.text
    assert second.json()["items"][0]["id"] != first["items"][0]["id"]
