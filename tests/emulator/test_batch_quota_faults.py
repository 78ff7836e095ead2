"""Batch endpoint, quota (429 like Google), concurrency limit and fault injection."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from googleapiclient.errors import HttpError

from emulator.testing import RunningEmulator

from .conftest import ALICE, credentials, error_body, gmail_service
from .discovery_schema import validate, validate_error
from .samples import NESTED, b64url, simple


def _seed(gmail: Any, n: int) -> list[str]:
    return [gmail.users().messages().insert(
        userId="me", body={"raw": b64url(simple(f"s{i}")), "labelIds": ["INBOX"]}
    ).execute()["id"] for i in range(n)]


def test_batch_get_with_googleapiclient(emu: RunningEmulator, gmail: Any) -> None:
    ids = _seed(gmail, 5)
    nested = gmail.users().messages().insert(userId="me", body={"raw": b64url(NESTED)}
                                             ).execute()["id"]
    results: dict[str, Any] = {}
    errors: dict[str, Any] = {}

    def callback(request_id: str, response: Any, exception: Any) -> None:
        if exception is not None:
            errors[request_id] = exception
        else:
            results[request_id] = response

    batch = emu.new_batch(callback)
    for i, message_id in enumerate([*ids, nested]):
        batch.add(gmail.users().messages().get(userId="me", id=message_id,
                                               format=["full", "raw", "minimal"][i % 3]),
                  request_id=f"get-{i}")
    batch.add(gmail.users().messages().get(userId="me", id="0123456789abcdef"),
              request_id="missing")
    batch.add(gmail.users().labels().list(userId="me"), request_id="labels")
    batch.add(gmail.users().messages().modify(userId="me", id=ids[0],
                                              body={"addLabelIds": ["STARRED"]}),
              request_id="modify")
    batch.execute()
    assert set(results) == {f"get-{i}" for i in range(6)} | {"labels", "modify"}
    assert set(errors) == {"missing"} and errors["missing"].resp.status == 404
    for i, message_id in enumerate([*ids, nested]):
        assert results[f"get-{i}"]["id"] == message_id
        validate(results[f"get-{i}"], "Message")
    assert "STARRED" in results["modify"]["labelIds"]


def _raw_batch(emu: RunningEmulator, token: str, paths: list[str],
               part_auth: bool = True) -> httpx.Response:
    lines = []
    for i, path in enumerate(paths):
        lines += ["--xyz", "Content-Type: application/http", f"Content-ID: <item{i}>", "",
                  f"GET {path} HTTP/1.1"]
        if part_auth:
            lines.append(f"Authorization: Bearer {token}")
        lines += ["", ""]
    lines.append("--xyz--")
    return httpx.post(emu.batch_uri, content="\r\n".join(lines).encode(),
                      headers={"Content-Type": "multipart/mixed; boundary=xyz",
                               "Authorization": f"Bearer {token}"})


def test_batch_wire_format_and_limits(emu: RunningEmulator, alice: Any) -> None:
    resp = _raw_batch(emu, alice.token, ["/gmail/v1/users/me/profile"] * 3, part_auth=False)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("multipart/mixed; boundary=batch_")
    assert resp.text.count("Content-ID: <response-item") == 3
    assert resp.text.count("HTTP/1.1 200 OK") == 3
    too_many = _raw_batch(emu, alice.token, ["/gmail/v1/users/me/profile"] * 101)
    assert too_many.status_code == 400
    validate_error(too_many.json(), 400)
    # /batch (the discovery document's batchPath) works too
    legacy = httpx.post(f"{emu.base_url}/batch", content=b"--q--",
                        headers={"Content-Type": "multipart/mixed; boundary=q"})
    assert legacy.status_code == 400


def test_quota_429_like_google(emu: RunningEmulator, gmail: Any) -> None:
    message_id = _seed(gmail, 1)[0]
    emu.control.reset_quota()
    emu.control.set_settings(quota_units_per_minute=20)
    for _ in range(4):  # messages.get costs 5 units: 4 calls spend all 20
        gmail.users().messages().get(userId="me", id=message_id).execute()
    with pytest.raises(HttpError) as exc:
        gmail.users().messages().get(userId="me", id=message_id).execute()
    assert exc.value.resp.status == 429
    body = error_body(exc.value)
    validate_error(body, 429, "rateLimitExceeded")
    assert body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert body["error"]["message"].startswith("User-rate limit exceeded.  Retry after ")
    assert body["error"]["errors"][0]["domain"] == "usageLimits"
    assert 1 <= int(exc.value.resp["retry-after"]) <= 60
    assert emu.control.quota(ALICE)["used"] == 20
    emu.control.advance_clock(61)  # the moving window has passed
    gmail.users().messages().get(userId="me", id=message_id).execute()


def test_quota_costs_per_method(emu: RunningEmulator, gmail: Any) -> None:
    emu.control.reset_quota()
    gmail.users().labels().list(userId="me").execute()
    assert emu.control.quota(ALICE)["used"] == 1
    gmail.users().history().list(userId="me", startHistoryId=gmail.users().getProfile(
        userId="me").execute()["historyId"]).execute()
    assert emu.control.quota(ALICE)["used"] == 1 + 1 + 2
    gmail.users().messages().send(userId="me", body={"raw": b64url(
        b"To: x@example.com\r\nSubject: q\r\n\r\nq")}).execute()
    assert emu.control.quota(ALICE)["used"] == 104
    gmail.users().messages().batchModify(userId="me", body={"ids": [], "addLabelIds": []}
                                         ).execute()
    assert emu.control.quota(ALICE)["used"] == 154


def test_batch_parts_each_count_against_quota(emu: RunningEmulator, gmail: Any) -> None:
    message_id = _seed(gmail, 1)[0]
    emu.control.reset_quota()
    emu.control.set_settings(quota_units_per_minute=25)
    statuses: list[int] = []
    batch = emu.new_batch(lambda _rid, _resp, exc: statuses.append(
        exc.resp.status if exc is not None else 200))
    for _ in range(8):
        batch.add(gmail.users().messages().get(userId="me", id=message_id))
    batch.execute()
    assert statuses == [200] * 5 + [429] * 3


def test_quota_can_be_switched_off(emu: RunningEmulator, gmail: Any) -> None:
    emu.control.set_settings(quota_units_per_minute=1, quota_enabled=False)
    for _ in range(3):
        gmail.users().labels().list(userId="me").execute()


def test_concurrency_limit(emu: RunningEmulator, alice: Any) -> None:
    emu.control.set_settings(concurrency_limit=1)
    emu.control.set_faults(latency_ms=400)
    statuses: list[int] = []

    def call() -> None:
        statuses.append(httpx.get(f"{emu.base_url}/gmail/v1/users/me/profile",
                                  headers={"Authorization": f"Bearer {alice.token}"}
                                  ).status_code)
    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    emu.control.clear_faults()
    assert sorted(statuses)[0] == 200 and 429 in statuses


def test_scripted_failures_and_error_rate(emu: RunningEmulator, gmail: Any) -> None:
    emu.control.set_faults(fail_next=[{"method": "gmail.users.labels.list", "status": 500,
                                       "count": 2}])
    for _ in range(2):
        with pytest.raises(HttpError) as exc:
            gmail.users().labels().list(userId="me").execute()
        assert exc.value.resp.status == 500
        validate_error(error_body(exc.value), 500, "backendError")
    gmail.users().labels().list(userId="me").execute()
    # googleapiclient's own retry copes with transient 5xx
    emu.control.set_faults(fail_next=[{"method": "*", "status": 503, "count": 1}])
    assert gmail.users().labels().list(userId="me").execute(num_retries=2)["labels"]
    emu.control.set_faults(error_rate=1.0, error_status=503)
    with pytest.raises(HttpError) as exc:
        gmail.users().getProfile(userId="me").execute()
    assert exc.value.resp.status == 503
    emu.control.clear_faults()
    gmail.users().getProfile(userId="me").execute()


def test_every_method_needs_a_token(emu: RunningEmulator) -> None:
    resp = httpx.get(f"{emu.base_url}/gmail/v1/users/me/messages")
    assert resp.status_code == 401
    validate_error(resp.json(), 401, "authError")
    bogus = httpx.get(f"{emu.base_url}/gmail/v1/users/me/messages",
                      headers={"Authorization": "Bearer ya29.nope"})
    assert bogus.status_code == 401


def test_second_user_is_isolated(emu: RunningEmulator, gmail: Any) -> None:
    _seed(gmail, 2)
    bob = gmail_service(emu, credentials(emu, "bob@example.com"))
    assert bob.users().messages().list(userId="me").execute() == {"resultSizeEstimate": 0}
