"""`GmailBatch` reads and writes Gmail batches byte-level; these tests hold it to
googleapiclient's own `BatchHttpRequest` on the same wire bytes: real batch responses of the
emulator over HTTP (messages, 404 parts, injected 429/5xx parts, header text that looks like the
boundary) are recorded once and replayed to both, and every member's outcome — status, headers,
body, the deserialized resource or the `HttpError` — must be equal. The JSON shortcut for the
`raw` field must equal `json.loads`, and each request part must say what Google's serializer
says."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import httplib2
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from emulator.batch import _parse_part
from emulator.testing import RunningEmulator
from gateway.gmail.batch import GmailBatch, loads_message, serialize_part, split_multipart
from gateway.gmail.client import GmailClient, build_client
from gateway.gmail.errors import GmailNotFound
from gateway.gmail.retry import RetryPolicy
from gateway.settings import Settings
from gateway.sync import gmail_ops

SCOPE = "https://mail.google.com/"


@pytest.fixture
def mailbox(emu: RunningEmulator, oauth_settings: Settings) -> tuple[str, GmailClient]:
    email = f"batch-{uuid.uuid4().hex[:8]}@example.com"
    emu.control.add_user(email)
    emu.control.seed(email, generate=12, seed=3)
    token = emu.control.mint_tokens(email, [SCOPE])
    credentials = Credentials(token["access_token"])  # type: ignore[no-untyped-call]
    return email, build_client(credentials, oauth_settings)


class Recorder:
    """An http that sends through `inner` and keeps the batch response's wire bytes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.request_body: bytes | str = b""
        self.resp: httplib2.Response | None = None
        self.content = b""

    def request(self, uri: str, method: str = "GET", body: Any = None,
                headers: Any = None, **kwargs: Any) -> tuple[httplib2.Response, bytes]:
        self.request_body = body
        self.resp, self.content = self.inner.request(uri, method=method, body=body,
                                                     headers=headers, **kwargs)
        return self.resp, self.content


class Replay:
    """An http answering every request with recorded bytes (no credentials attached)."""

    def __init__(self, resp: httplib2.Response, content: bytes) -> None:
        self.resp, self.content = resp, content

    def request(self, *args: Any, **kwargs: Any) -> tuple[httplib2.Response, bytes]:
        return httplib2.Response(dict(self.resp)), self.content


Requests = dict[str, Callable[[], HttpRequest]]


def record(client: GmailClient, requests: Requests) -> Recorder:
    recorder = Recorder(client.http())
    batch = client.new_batch()
    for request_id, make in requests.items():
        batch.add(make(), request_id=request_id)
    batch.execute(http=recorder)
    assert recorder.resp is not None and recorder.resp.status == 200
    return recorder


def outcomes(cls: type[BatchHttpRequest], resp: httplib2.Response, content: bytes,
             requests: Requests) -> dict[str, Any]:
    """Each member's parsed part and what the batch handed its callback."""
    results: dict[str, Any] = {}

    def callback(request_id: str, response: Any, exception: HttpError | None) -> None:
        error = None if exception is None else (exception.status_code, exception.content,
                                                dict(exception.resp), exception.reason)
        results[request_id] = {"response": response, "error": error}

    batch = cls(callback=callback, batch_uri="http://replay.invalid/batch/gmail/v1")
    for request_id, make in requests.items():
        batch.add(make(), request_id=request_id)
    batch.execute(http=Replay(resp, content))
    for request_id, (part, body) in batch._responses.items():
        results[request_id]["part"] = (dict(part), part.status, part.version,
                                       part.reason.rstrip("\r"), body)
    return results


def assert_same_as_google(resp: httplib2.Response, content: bytes, requests: Requests
                          ) -> dict[str, Any]:
    ours = outcomes(GmailBatch, resp, content, requests)
    google = outcomes(BatchHttpRequest, resp, content, requests)
    assert ours.keys() == google.keys() == requests.keys()
    for request_id in requests:
        assert ours[request_id] == google[request_id], request_id
    return ours


def gets(client: GmailClient, ids: list[str], fmt: str = "raw") -> Requests:
    messages = client.users.messages()
    return {gid: (lambda gid=gid: messages.get(userId="me", id=gid, format=fmt))  # type: ignore[misc]
            for gid in ids}


def test_messages_404s_and_failed_parts_parse_as_googleapiclient_parses_them(
        emu: RunningEmulator, mailbox: tuple[str, GmailClient]) -> None:
    email, client = mailbox
    ids = [m["id"] for m in emu.control.messages(email)]
    missing = ["0000000000000abc", "ffffffffffffffff"]
    emu.control.set_faults(fail_next=[
        {"method": "gmail.users.messages.get", "status": 503, "count": 1},
        {"method": "gmail.users.messages.get", "status": 429, "count": 1},
        {"method": "gmail.users.messages.get", "status": 500, "count": 1}])
    try:
        requests = gets(client, ids + missing)
        recorded = record(client, requests)
    finally:
        emu.control.clear_faults()
    assert recorded.resp is not None
    ours = assert_same_as_google(recorded.resp, recorded.content, requests)

    statuses = sorted(o["part"][1] for o in ours.values())
    assert statuses.count(200) == len(ids) + len(missing) - 5
    assert {404, 429, 500, 503} <= set(statuses)
    for gid in missing:
        assert ours[gid]["error"][0] == 404
    raw = {m["id"]: m["raw"] for m in emu.control.messages(email, format="raw")}
    fetched = {gid: o["response"] for gid, o in ours.items() if o["response"] is not None}
    assert fetched and all(resource["raw"] == raw[gid] for gid, resource in fetched.items())


def test_a_body_with_boundary_like_text_splits_as_the_email_parser_splits_it(
        emu: RunningEmulator, mailbox: tuple[str, GmailClient]) -> None:
    email, client = mailbox
    eml = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: --batch_ and \r\n"
           b" --==============boundary==\r\nContent-Type: text/plain\r\n\r\n"
           b"--batch_abc\r\n--batch_abc--\r\nHTTP/1.1 200 OK\r\n\r\n")
    gmail_id = emu.control.deliver(email, eml)["id"]
    requests = {"meta": gets(client, [gmail_id], "metadata")[gmail_id],
                "raw": gets(client, [gmail_id])[gmail_id]}
    recorded = record(client, requests)
    assert recorded.resp is not None
    ours = assert_same_as_google(recorded.resp, recorded.content, requests)
    assert base64.urlsafe_b64decode(ours["raw"]["response"]["raw"] + "==") == eml
    subject = [h["value"] for h in ours["meta"]["response"]["payload"]["headers"]
               if h["name"] == "Subject"]
    assert subject and "--batch_" in subject[0]

    # The real response's boundary, spliced into a body where it is NOT a delimiter line:
    # after other text, followed by more text on its line, indented, or ending in '--x'.
    boundary = recorded.resp["content-type"].split("boundary=", 1)[1].strip('"')
    tricky = (f'\r\n"x--{boundary}",\r\n--{boundary}x\r\n --{boundary}\r\n'
              f"--{boundary}--x\r\n--{boundary}z--\r\n").encode()
    content = recorded.content.replace(b'  "id": ', tricky + b'  "id": ', 1)
    assert content != recorded.content
    spliced = outcomes(GmailBatch, recorded.resp, content, requests)
    assert spliced == outcomes(BatchHttpRequest, recorded.resp, content, requests)
    assert tricky in spliced["meta"]["part"][4]  # kept inside the body, not split on


def test_split_multipart_follows_the_delimiter_rules() -> None:
    body = (b"preamble\r\n--b\r\nA\r\n--b \t\r\nB\n--bb\nstill B\r\n--b--\r\nepilogue")
    assert split_multipart(body, "b") == [b"A", b"B\n--bb\nstill B"]
    assert split_multipart(b"--b\nonly part", "b") == [b"only part"]  # no close delimiter
    assert split_multipart(b"no delimiter", "b") == []


def test_loads_message_equals_json_loads(emu: RunningEmulator,
                                         mailbox: tuple[str, GmailClient]) -> None:
    email, client = mailbox
    recorded = record(client, gets(client, [m["id"] for m in emu.control.messages(email)]))
    assert recorded.resp is not None
    boundary = recorded.resp["content-type"].split("boundary=")[1]
    jsons = [part[part.index(b"{"):] for part in split_multipart(recorded.content, boundary)]
    raw_value = base64.urlsafe_b64encode(b"x" * 300).decode()
    jsons += [json.dumps(doc).encode() for doc in (
        {"id": "1", "raw": raw_value, "labelIds": ["INBOX"]},
        {"raw": "", "id": "empty"},
        {"payload": {"raw": raw_value}, "id": "nested"},
        {"raw": raw_value, "other": {"raw": "x"}},
        {'a"raw': "QUJD", "raw": raw_value},
        {"raw": "with\\escapes\u00e9 and \"quotes\""},
        {"snippet": '"raw": "not the field"', "raw": raw_value},
        [{"raw": raw_value}],
    )]
    jsons.append(b'{"raw": "QUJD", "raw": "REVG"}')  # a duplicate key: the last one wins
    assert len(jsons) > 12
    for content in jsons:
        assert loads_message(content) == json.loads(content), content[:80]
    with pytest.raises(ValueError):
        loads_message(b'{"raw": "QU\x01JD"}')  # a control character: invalid, as for json


def test_a_request_part_says_what_googles_serializer_says(
        mailbox: tuple[str, GmailClient]) -> None:
    _, client = mailbox
    messages = client.users.messages()
    for request in (messages.get(userId="me", id="abc", format="raw"),
                    messages.modify(userId="me", id="abc",
                                    body={"addLabelIds": ["STARRED"], "note": "é"})):
        google = BatchHttpRequest(batch_uri="http://x.invalid/batch")._serialize_request(
            request).encode("utf-8")
        _, theirs = _parse_part(b"Content-ID: <x>\r\n\r\n" + google)
        _, ours = _parse_part(b"Content-ID: <x>\r\n\r\n" + serialize_part(request))
        assert theirs is not None and ours is not None
        assert (ours.method, ours.path, ours.query, ours.headers) == \
            (theirs.method, theirs.path, theirs.query, theirs.headers)
        assert ours.headers["authorization"].startswith("Bearer ")
        assert json.loads(ours.body or b"null") == json.loads(theirs.body or b"null")


def test_get_batch_maps_each_part_and_retries_failed_parts(
        emu: RunningEmulator, mailbox: tuple[str, GmailClient]) -> None:
    email, client = mailbox
    ids = [m["id"] for m in emu.control.messages(email)]
    emu.control.set_faults(fail_next=[
        {"method": "gmail.users.messages.get", "status": 429, "count": 2},
        {"method": "gmail.users.messages.get", "status": 503, "count": 1}])
    retry = RetryPolicy(base_seconds=0.01, cap_seconds=0.05, sleep=lambda _: None)
    try:
        fetched = gmail_ops.get_batch(client, [*ids, "0000000000000abc"], retry)
    finally:
        emu.control.clear_faults()
    raw = {m["id"]: m["raw"] for m in emu.control.messages(email, format="raw")}
    assert {gid: r["raw"] for gid, r in fetched.messages.items()} == raw
    assert fetched.missing == {"0000000000000abc"}
    assert client.retries >= 1 and client.rate_limited >= 1
    assert client.units_spent == 5 * (len(ids) + 1 + 3)  # every member charged, retries too

    with pytest.raises(GmailNotFound):  # the single-call path maps the same way
        client.execute(client.users.messages().get(userId="me", id="0000000000000abc"))


def test_consecutive_batches_reuse_one_connection_per_thread(
        mailbox: tuple[str, GmailClient]) -> None:
    """One kept-alive connection per thread for the client's batches (not one per batch)."""
    _, client = mailbox
    ids = [m["id"] for m in client.execute(
        client.users.messages().list(userId="me", maxResults=4))["messages"]]
    sockets = []
    for _ in range(3):
        fetched = gmail_ops.get_batch(client, ids, RetryPolicy(max_attempts=1))
        assert sorted(fetched.messages) == sorted(ids)
        (connection,) = client.http().http.connections.values()
        sockets.append(connection.sock)
    assert sockets[0] is not None and sockets[1] is sockets[0] and sockets[2] is sockets[0]
    other: list[object] = []
    worker = threading.Thread(target=lambda: other.append(client.http()))
    worker.start()
    worker.join()
    assert other[0] is not client.http()
