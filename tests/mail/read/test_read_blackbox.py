"""Black-box: a mailbox connected through real OAuth consent on the emulator, filled by the
real sync worker (gateway.sync), then read through the HTTP API. What the API returns must be
what Gmail (the emulator, asked through the gateway's own Gmail client) holds: the same ids,
byte-identical raw messages, the same thread grouping, the same attachment bytes; the contact
timeline finds every message with the address; search passes Gmail's query language through."""

from __future__ import annotations

import base64
import uuid
from collections import defaultdict
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from emulator.testing import RunningEmulator
from gateway.gmail.client import GmailClient
from gateway.kit.db import Database
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.gmail_access import gmail_for
from gateway.mailboxes.models import Mailbox
from gateway.runtime import runtime_of
from gateway.settings import Settings
from gateway.sync.worker import SyncWorker, build_services
from tests.google_world import GOOGLE_ALICE, connect
from tests.support.world import TenantWorld

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64 + b"%%EOF\n"
SHEET = b"name,amount\nacme,42\n" * 50


def _mail(subject: str, sender: str, *, to: str = GOOGLE_ALICE, cc: str | None = None,
          reply_to: EmailMessage | None = None,
          attachments: tuple[tuple[str, str, bytes], ...] = ()) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if cc:
        msg["Cc"] = cc
    msg["Message-ID"] = make_msgid(domain="customer.example")
    if reply_to is not None:
        msg["In-Reply-To"] = reply_to["Message-ID"]
        msg["References"] = reply_to["Message-ID"]
    msg.set_content(f"Body of {subject}.\n")
    for filename, mime_type, data in attachments:
        maintype, _, subtype = mime_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def seed_gmail(emu: RunningEmulator) -> None:
    first = _mail("Quarterly contract", "Carol <carol@customer.example>",
                  attachments=(("contract.pdf", "application/pdf", PDF),
                               ("figures.csv", "text/csv", SHEET)))
    emu.control.deliver(GOOGLE_ALICE, bytes(first))
    reply = _mail("Re: Quarterly contract", "Dave <dave@customer.example>",
                  cc="carol@customer.example", reply_to=first)
    emu.control.deliver(GOOGLE_ALICE, bytes(reply))
    emu.control.deliver(GOOGLE_ALICE, bytes(_mail("Team lunch", "erin@colleague.example")))
    emu.control.deliver(GOOGLE_ALICE, bytes(_mail("Invoice", "billing@vendor.example",
                                                  attachments=(("inv.pdf", "application/pdf",
                                                                b"%PDF-invoice"),))))


@pytest.fixture
def synced(gw: TestClient, emu: RunningEmulator, oauth_app: FastAPI, oauth_settings: Settings,
           tenant_a: TenantWorld) -> uuid.UUID:
    seed_gmail(emu)
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    state = runtime_of(oauth_app)
    settings = oauth_settings.model_copy(update={"sync_retry_base_seconds": 0.05,
                                                 "sync_retry_cap_seconds": 0.5})
    worker = SyncWorker(build_services(settings, state.database, state.crypto, state.enforcer,
                                       state.service(MessageStore)), owner="read-api-test")
    assert worker.run_until_idle() >= 1
    assert worker.outcomes.get("ok", 0) >= 1, worker.outcomes
    return mailbox_id


def gmail(db: Database, oauth_app: FastAPI, settings: Settings, mailbox_id: uuid.UUID
          ) -> tuple[GmailClient, Any]:
    session = db.sessions()
    mailbox = session.get(Mailbox, mailbox_id)
    assert mailbox is not None
    return gmail_for(session, mailbox, crypto=runtime_of(oauth_app).crypto, settings=settings,
                     database=db), session


def in_gmail(client: GmailClient) -> dict[str, dict[str, Any]]:
    listed = client.execute(client.users.messages().list(userId="me", maxResults=500))
    out = {}
    for ref in listed.get("messages", []):
        out[ref["id"]] = client.execute(client.users.messages().get(
            userId="me", id=ref["id"], format="full"))
        raw = client.execute(client.users.messages().get(userId="me", id=ref["id"],
                                                         format="raw"))["raw"]
        out[ref["id"]]["raw_bytes"] = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    return out


def gmail_attachments(client: GmailClient, message: dict[str, Any]) -> dict[str, bytes]:
    """partId → bytes of every part Gmail serves with an attachmentId and a filename."""
    found: dict[str, bytes] = {}

    def walk(part: dict[str, Any]) -> None:
        body = part.get("body", {})
        if part.get("filename") and body.get("attachmentId"):
            data = client.execute(client.users.messages().attachments().get(
                userId="me", messageId=message["id"], id=body["attachmentId"]))["data"]
            found[part["partId"]] = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        for child in part.get("parts", []):
            walk(child)

    walk(message["payload"])
    return found


def test_the_api_serves_what_gmail_holds(gw: TestClient, emu: RunningEmulator, db: Database,
                                         oauth_app: FastAPI, oauth_settings: Settings,
                                         tenant_a: TenantWorld, synced: uuid.UUID) -> None:
    base = f"/v1/mailboxes/{synced}"
    headers = tenant_a.crm.headers()
    client, session = gmail(db, oauth_app, oauth_settings, synced)
    try:
        truth = in_gmail(client)
        files = {gid: gmail_attachments(client, m) for gid, m in truth.items()}
    finally:
        session.close()
    assert len(truth) == 4

    mailbox = gw.get(base, headers=headers).json()
    assert mailbox["features"] == ["read"] and mailbox["email_address"] == GOOGLE_ALICE

    listed = gw.get(f"{base}/messages", headers=headers).json()
    assert {m["id"] for m in listed["items"]} == set(truth)
    dates = [m["internal_date"] for m in listed["items"]]
    assert dates == sorted(dates, reverse=True)
    for item in listed["items"]:
        g = truth[item["id"]]
        assert item["thread_id"] == g["threadId"]
        assert sorted(item["label_ids"]) == sorted(g["labelIds"])
        raw = gw.get(f"{base}/messages/{item['id']}/raw", headers=headers)
        assert raw.status_code == 200 and raw.content == g["raw_bytes"]

    # Thread grouping: the API's threads hold exactly Gmail's thread members.
    gmail_threads: dict[str, set[str]] = defaultdict(set)
    for gid, g in truth.items():
        gmail_threads[g["threadId"]].add(gid)
    threads = gw.get(f"{base}/threads", headers=headers).json()["items"]
    assert {t["id"] for t in threads} == set(gmail_threads)
    for summary in threads:
        thread = gw.get(f"{base}/threads/{summary['id']}", params={"view": "content"},
                        headers=headers).json()
        assert {m["id"] for m in thread["messages"]} == gmail_threads[summary["id"]]
        assert summary["message_count"] == len(gmail_threads[summary["id"]])
    assert max(len(v) for v in gmail_threads.values()) == 2   # the reply joined its thread

    # Attachments: same part ids, same bytes as Gmail's attachments.get.
    downloads = 0
    for gid, parts in files.items():
        content = gw.get(f"{base}/messages/{gid}", params={"view": "content"},
                         headers=headers).json()
        assert {a["part_id"] for a in content["attachments"]} == set(parts)
        for part_id, data in parts.items():
            got = gw.get(f"{base}/messages/{gid}/attachments/{part_id}", headers=headers)
            assert got.status_code == 200 and got.content == data
            assert got.headers["content-length"] == str(len(data))
            downloads += 1
    assert downloads == 3 and PDF in [d for p in files.values() for d in p.values()]

    # Contact timeline: every message Carol sent or was copied on, newest first.
    expected = {gid for gid, g in truth.items()
                if any("carol@customer.example" in h["value"].lower()
                       for h in g["payload"]["headers"] if h["name"] in ("From", "To", "Cc"))}
    timeline = gw.post(f"{base}/contact-timeline", json={"address": "CAROL@customer.example"},
                       headers=tenant_a.crm.headers("contact_linking")).json()["items"]
    assert {m["id"] for m in timeline} == expected and len(expected) == 2
    assert [sorted(m["roles"]) for m in timeline] == [["cc"], ["from"]]


def test_search_passes_gmails_query_language(gw: TestClient, emu: RunningEmulator,
                                             tenant_a: TenantWorld,
                                             synced: uuid.UUID) -> None:
    base = f"/v1/mailboxes/{synced}"
    headers = tenant_a.crm.headers()
    found = gw.post(f"{base}/search", json={"q": "has:attachment from:carol@customer.example"},
                    headers=headers)
    assert found.status_code == 200, found.text
    body = found.json()
    assert [m["subject"] for m in body["items"]] == ["Quarterly contract"]
    assert body["matched"] == 1 and body["not_synced"] == 0

    # Mail that arrived after the sync: Gmail finds it, the store does not have it yet.
    emu.control.deliver(GOOGLE_ALICE, bytes(_mail("Contract addendum",
                                                  "carol@customer.example")))
    fresh = gw.post(f"{base}/search", json={"q": "from:carol@customer.example"},
                    headers=headers).json()
    assert fresh["matched"] == 2 and fresh["not_synced"] == 1
    assert [m["subject"] for m in fresh["items"]] == ["Quarterly contract"]
    assert len(fresh["not_synced_ids"]) == 1

    pages: list[list[str]] = []
    token = None
    while len(pages) < 5:
        page = gw.post(f"{base}/search", json={"q": "in:inbox", "limit": 2,
                                               **({"page_token": token} if token else {})},
                       headers=headers).json()
        pages.append([m["id"] for m in page["items"]] + page["not_synced_ids"])
        token = page["next_page_token"]
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1]   # 5 in the inbox now, each once
    assert len({i for p in pages for i in p}) == 5

    rejected = gw.post(f"{base}/search", json={"q": "after:someday"}, headers=headers)
    assert rejected.status_code == 422, rejected.text
    assert rejected.json()["code"] == "gmail_rejected"
    assert rejected.headers["content-type"].startswith("application/problem+json")
    bad_token = gw.post(f"{base}/search", json={"q": "in:inbox", "page_token": "123"},
                        headers=headers)
    assert bad_token.status_code == 422 and bad_token.json()["code"] == "gmail_rejected"
    for body_ in ({"q": ""}, {"q": "x" * 1025}, {"q": "a\nb"}, {"q": "x", "limit": 0},
                  {"q": "x", "limit": 101}, {"q": "x", "page_token": "../etc"},
                  {"q": "x", "extra": True}, {}):
        response = gw.post(f"{base}/search", json=body_, headers=headers)
        assert response.status_code == 422, (body_, response.text)
        assert response.json()["code"] == "validation_failed"
