"""users.watch and Pub/Sub push: envelope, OIDC JWT, one per second per user, drops."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.auth.transport.requests import Request
from google.oauth2 import id_token
from googleapiclient.errors import HttpError

from emulator.testing import RunningEmulator

from .conftest import ALICE
from .samples import b64url, simple

AUDIENCE = "https://gateway.test/push/gmail"
TOPIC = "projects/crm-prod/topics/gmail"


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.status = 204
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.received.append((dict(self.headers.items()),
                                       json.loads(self.rfile.read(length))))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/push"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(emu: RunningEmulator) -> Iterator[Receiver]:
    rec = Receiver()
    emu.control.set_settings(push_url=rec.url, push_audience=AUDIENCE, push_min_interval=1.0)
    yield rec
    rec.close()


def _data(envelope: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(envelope["message"]["data"]))


def _insert(gmail: Any, subject: str, labels: list[str] | None = None) -> dict[str, Any]:
    return gmail.users().messages().insert(
        userId="me", body={"raw": b64url(simple(subject)), "labelIds": labels or ["INBOX"]}
    ).execute()


def test_watch_then_push_with_verified_oidc_token(emu: RunningEmulator, gmail: Any,
                                                  receiver: Receiver) -> None:
    watch = gmail.users().watch(userId="me", body={"topicName": TOPIC,
                                                   "labelIds": ["INBOX"]}).execute()
    week_ms = 7 * 24 * 3600 * 1000
    assert abs(int(watch["expiration"]) - (emu.state.clock.now_ms() + week_ms)) < 60_000
    emu.control.deliver(ALICE, simple("new mail"))
    receiver.wait(1)
    assert len(receiver.received) == 1
    headers, envelope = receiver.received[0]
    assert set(envelope) == {"message", "subscription"}
    assert {"data", "messageId", "publishTime"} <= set(envelope["message"])
    data = _data(envelope)
    profile = gmail.users().getProfile(userId="me").execute()
    assert data == {"emailAddress": ALICE, "historyId": int(profile["historyId"])}
    assert int(watch["historyId"]) < data["historyId"]
    token = headers["Authorization"].removeprefix("Bearer ")
    claims = id_token.verify_token(token, Request(), audience=AUDIENCE,
                                   certs_url=emu.certs_pem_uri)
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["email"] == emu.state.settings.push_service_account
    assert claims["email_verified"] is True
    # the history since the watch's historyId shows the new message
    history = gmail.users().history().list(userId="me", startHistoryId=watch["historyId"]
                                           ).execute()
    assert history["history"][0]["messagesAdded"]


def test_at_most_one_push_per_second_coalesced(emu: RunningEmulator, gmail: Any,
                                               receiver: Receiver) -> None:
    gmail.users().watch(userId="me", body={"topicName": TOPIC}).execute()
    _insert(gmail, "first")
    receiver.wait(1)
    started = time.monotonic()
    for i in range(5):
        _insert(gmail, f"burst {i}")
    receiver.wait(2, timeout=3)
    time.sleep(0.3)
    assert len(receiver.received) == 2
    assert time.monotonic() - started >= 0.5
    latest = int(gmail.users().getProfile(userId="me").execute()["historyId"])
    assert _data(receiver.received[1][1])["historyId"] == latest


def test_label_filter_stop_and_drop(emu: RunningEmulator, gmail: Any,
                                    receiver: Receiver) -> None:
    emu.control.set_settings(push_min_interval=0.0)
    gmail.users().watch(userId="me", body={"topicName": TOPIC, "labelIds": ["INBOX"],
                                           "labelFilterBehavior": "include"}).execute()
    _insert(gmail, "spam only", ["SPAM"])
    time.sleep(0.3)
    assert receiver.received == []
    emu.control.set_faults(drop_push_rate=1.0)
    _insert(gmail, "dropped")
    time.sleep(0.3)
    assert receiver.received == []
    assert emu.control.push_log()[-1]["outcome"] == "dropped"
    emu.control.clear_faults()
    gmail.users().stop(userId="me").execute()
    _insert(gmail, "after stop")
    time.sleep(0.3)
    assert receiver.received == []


def test_failed_delivery_is_retried(emu: RunningEmulator, gmail: Any,
                                    receiver: Receiver) -> None:
    emu.control.set_settings(push_min_interval=0.0)
    receiver.status = 500
    gmail.users().watch(userId="me", body={"topicName": TOPIC}).execute()
    _insert(gmail, "retry me")
    receiver.wait(2, timeout=4)
    assert len(receiver.received) >= 2
    receiver.status = 204
    outcomes = [e["outcome"] for e in emu.control.push_log()]
    assert outcomes[0] == "failed"


def test_watch_validation_and_expiry(emu: RunningEmulator, gmail: Any,
                                     receiver: Receiver) -> None:
    with pytest.raises(HttpError) as exc:
        gmail.users().watch(userId="me", body={"topicName": "gmail"}).execute()
    assert exc.value.resp.status == 400
    emu.control.set_settings(push_min_interval=0.0)
    gmail.users().watch(userId="me", body={"topicName": TOPIC}).execute()
    emu.control.advance_clock(7 * 24 * 3600 + 10)
    _insert(gmail, "after expiry")
    time.sleep(0.3)
    assert receiver.received == []
