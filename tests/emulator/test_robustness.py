"""Whatever a client sends, the emulator answers in Google's format, never a bare 500."""

from __future__ import annotations

import itertools

import httpx

from emulator import scopes as sc
from emulator.testing import RunningEmulator

from .conftest import ALICE
from .discovery_schema import validate_error

BODIES = [b"", b"[]", b"null", b"{", b'{"raw": 5}', b'{"raw": "!!!"}', b'{"ids": "x"}',
          b'{"addLabelIds": "INBOX"}', b'{"name": 5}', b'{"message": 5}', b'{"id": 5}',
          b'{"color": 5, "name": "x"}', b'{"raw": ""}', b'{"threadId": [1], "raw": "eA"}',
          b'{"labelIds": "INBOX", "topicName": "projects/a/topics/b"}']


def test_bad_bodies_and_parameters(emu: RunningEmulator) -> None:
    token = emu.control.mint_tokens(ALICE, [sc.FULL_MAILBOX])["access_token"]
    emu.control.seed(ALICE, generate=3)
    mid = emu.control.messages(ALICE)[0]["id"]
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{emu.base_url}/gmail/v1/users/me/"
    paths = [("POST", "messages/send"), ("POST", "messages"), ("POST", "messages/import"),
             ("POST", f"messages/{mid}/modify"), ("POST", "messages/batchModify"),
             ("POST", "messages/batchDelete"), ("POST", "labels"), ("PATCH", "labels/INBOX"),
             ("POST", "watch"), ("POST", "drafts"), ("POST", "drafts/send"),
             ("PUT", "drafts/r1"), ("POST", f"threads/{mid}/modify")]
    with httpx.Client(headers=headers) as http:
        for (method, path), body in itertools.product(paths, BODIES):
            resp = http.request(method, base + path, content=body)
            assert resp.status_code < 500, (method, path, body, resp.text)
            if resp.status_code >= 400:
                validate_error(resp.json(), resp.status_code)
        for query in ["maxResults=abc", "maxResults=-1", "pageToken=zz", "q=%22unclosed",
                      "q=after:notadate", "format=weird", "q=is:weird", "q=larger:xx",
                      "q=-", "q=OR", "fields=a(b", "startHistoryId=x"]:
            for path in ["messages", "threads", "drafts", f"messages/{mid}", "history"]:
                resp = http.get(f"{base}{path}?{query}")
                assert resp.status_code < 500, (path, query, resp.text)
        resp = http.get(f"{emu.base_url}/gmail/v1/users/me/nothing-here")
        assert resp.status_code == 404
        validate_error(resp.json(), 404)
