"""Hostile input on the read routes: crafted cursors (NUL bytes, dates at the ends of the
calendar, foreign listings), odd digits, control characters. Each is a 2xx or a problem+json
4xx, never a 5xx (a NUL byte reaching PostgreSQL would be a 503)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.mail.read_fixtures import Seeded, seeded

__all__ = ["seeded"]

ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def cursor(kind: str, when: str, key: str) -> str:
    raw = json.dumps([kind, when, key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


CASES: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None, int]] = [
    ("GET", "/messages", {"after": "9999-12-31T23:59:59-14:00"}, None, 200),
    ("GET", "/messages", {"before": "0001-01-01T00:00:00+14:00"}, None, 200),
    ("GET", "/messages", {"after": "2026-11-01T00:00:00+25:00"}, None, 422),
    ("GET", "/messages", {"limit": "99999999999999999999999"}, None, 422),
    ("GET", "/messages", {"label": "\x00"}, None, 422),
    ("GET", "/messages", {"contact": "a\x00@b.c"}, None, 200),
    ("GET", "/messages", {"cursor": cursor("messages", "9999-12-31T23:59:59-14:00",
                                           ZERO_UUID)}, None, 200),
    ("GET", "/messages", {"cursor": cursor("messages", "2026-01-01T00:00:00Z", "m\x00")},
     None, 400),
    ("GET", "/messages", {"cursor": cursor("messages", "2026-01-01T00:00:00", ZERO_UUID)},
     None, 400),                                       # no timezone
    ("GET", "/threads", {"cursor": cursor("threads", "2026-01-01T00:00:00Z", "t\x00")},
     None, 400),
    ("GET", "/threads", {"cursor": cursor("threads", "0001-01-01T00:00:00+14:00", ZERO_UUID)},
     None, 200),
    ("GET", "/threads", {"cursor": cursor("threads", "2026-01-01T00:00:00Z", "t1")},
     None, 400),                                       # a thread id is not a position
    ("GET", "/threads", {"cursor": "\x00"}, None, 400),
    ("GET", "/threads/t1", {"cursor": cursor("thread-messages", "9999-12-31T23:59:59-14:00",
                                             ZERO_UUID)}, None, 200),
    ("GET", "/threads/t1", {"cursor": cursor("thread-messages", "2026-01-01T00:00:00Z",
                                             "not-a-uuid")}, None, 400),
    ("GET", "/threads/t1", {"limit": "99999999999999999999999"}, None, 422),
    ("GET", "/threads/t1", {"limit": "+5"}, None, 422),
    ("GET", "/threads/t1", {"limit": "\u0663"}, None, 422),   # an Arabic-Indic three
    ("POST", "/contact-timeline", None, {"address": "a\x00b@c.d"}, 200),
    ("POST", "/contact-timeline", None, {"address": "carol@customer.example",
                                         "after": "9999-12-31T23:59:59-14:00"}, 200),
    ("POST", "/contact-timeline", None, {"address": "carol@customer.example",
                                         "cursor": cursor("timeline", "2026-01-01T00:00:00Z",
                                                          "x\x00")}, 400),
    ("POST", "/search", None, {"q": "a\x00b"}, 422),
]


@pytest.mark.parametrize(("method", "path", "params", "body", "status"), CASES,
                         ids=[f"{m} {p} {i}" for i, (m, p, *_rest) in enumerate(CASES)])
def test_hostile_input_is_never_a_5xx(client: TestClient, seeded: Seeded, method: str,
                                      path: str, params: dict[str, Any] | None,
                                      body: dict[str, Any] | None, status: int) -> None:
    response = client.request(method, seeded.url(path), params=params, json=body,
                              headers=seeded.world.crm.headers())
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
