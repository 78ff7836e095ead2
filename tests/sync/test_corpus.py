"""The project's corpus of real-world oddities (tests/corpus/, described in its README) through
the real sync path: delivered to the emulator, the mailbox connected through OAuth, a full sync,
more mail and an incremental sync, then read through the CRM API. Per message:

- the raw bytes are served identical;
- the content view is valid UTF-8 JSON and agrees with Python's own `email` parser (subject,
  addresses, header names, text and HTML bodies, snippet, attachment list) under the rules of
  docs/mail-api.md, computed here independently of the gateway's code;
- a report (bounce, delay, read receipt) has its fields in `reports`;
- every attachment downloads with the bytes the parser decodes (an attached message or a report:
  its bytes as they are in the message);
- the message is in Gmail's thread, and the thread's content view serves it;
- the export carries it as valid UTF-8 with its raw bytes.

Run: `python -m pytest tests/sync/test_corpus.py -q -s` prints the number of messages and of
checks passed.
"""

from __future__ import annotations

import base64
import email
import email.policy
import html
import json
import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from emulator.testing import RunningEmulator
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from gateway.sync.worker import SyncWorker
from tests.google_world import GOOGLE_ALICE, connect
from tests.support.world import TenantWorld

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
# Delivered after the full sync, so they come in through the incremental sync.
LATE = frozenset({"33-reply-to-attached.eml", "34-reply-reply.eml", "16-bounce-dsn.eml",
                  "38-utf8-headers-and-emoji.eml", "03-utf7-pgp-signed.eml"})
REPORTS = ("text/rfc822-headers", "text/global-headers")


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def check(self, name: str, what: str, ok: bool, detail: Any = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed.append(f"{name}: {what} {detail!r}"[:600])
        return ok


def _valid(value: str) -> str:
    """The documented replacement rule, written out: surrogate escapes back to bytes decoded as
    UTF-8, any other surrogate U+FFFD."""
    out: list[str] = []
    pending = bytearray()
    for char in value:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            pending.append(code - 0xDC00)
            continue
        if pending:
            out.append(pending.decode("utf-8", "replace"))
            pending.clear()
        out.append("\ufffd" if 0xD800 <= code <= 0xDFFF else char)
    if pending:
        out.append(pending.decode("utf-8", "replace"))
    return "".join(out)


def _header(msg: Message, name: str) -> list[str]:
    values = []
    for key, raw in msg.raw_items():
        if key.lower() == name:
            try:
                values.append(str(msg.policy.header_fetch_parse(key, raw)))
            except Exception:  # the registry's parser gives up: the gateway keeps the text
                values.append(str(email.header.make_header(email.header.decode_header(raw))))
    return values


def _leaves(part: Message, prefix: str = "") -> list[tuple[str, Message]]:
    if part.is_multipart() and part.get_content_maintype() != "message":
        out = []
        for index, child in enumerate(part.get_payload()):
            out += _leaves(child, f"{prefix}.{index}" if prefix else str(index))
        return out
    return [(prefix or "0", part)]


def _text(part: Message) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return _valid(content)


def _visible(markup: str) -> str:
    markup = re.sub(r"(?is)<(style|script|title|head)\b[^>]*>.*?</\1\s*>", " ", markup)
    markup = re.sub(r"(?s)<!--.*?-->|<[^>]*>", " ", markup)
    return html.unescape(markup)


def reference(raw: bytes) -> dict[str, Any]:
    """What the content view must say, from Python's `email` parser and the documented rules."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    texts, htmls, attachments = [], [], []
    for part_id, part in _leaves(msg):
        is_attachment = (part.get_content_disposition() == "attachment" or part.get_filename()
                         or part.get_content_maintype() == "message"
                         or part.get_content_type() in REPORTS)
        if is_attachment:
            name = part.get_filename() or ""
            if not name and part.get_content_type() in ("message/rfc822", "message/global"):
                name = str(part.get_payload()[0].get("subject", ""))
            attachments.append({"part_id": part_id, "mime_type": part.get_content_type(),
                                "filename": _valid(name), "part": part})
        elif part.get_content_type() == "text/plain":
            texts.append(_text(part))
        elif part.get_content_type() == "text/html":
            htmls.append(_text(part))
    text, body_html = "\n".join(texts), "\n".join(htmls)
    source = text if text.strip() else _visible(body_html)

    def addresses(name: str) -> list[str]:
        return [_valid(a) for _, a in getaddresses(_header(msg, name))
                if re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", a)]

    subject = _header(msg, "subject")
    return {"subject": _valid(subject[0]) if subject else "", "text": text, "html": body_html,
            "from": addresses("from"), "to": addresses("to"), "cc": addresses("cc"),
            "header_names": [_valid(k) for k in msg],
            "snippet": " ".join(source.split())[:200], "attachments": attachments}


def _json(response: Any) -> Any:
    return json.loads(response.content.decode("utf-8"))  # strict UTF-8


def _attachment_bytes_ok(raw: bytes, part: Message, got: bytes) -> tuple[bool, str]:
    if part.get_content_maintype() != "message":
        expected = part.get_payload(decode=True)
        return got == expected, f"{len(got)} != {len(expected or b'')}"
    if got not in raw:
        return False, "not the part's bytes as they are in the message"
    inner = part.get_payload()
    if part.get_content_type() in ("message/rfc822", "message/global"):
        parsed = email.message_from_bytes(got, policy=email.policy.default)
        return str(parsed.get("subject")) == str(inner[0].get("subject")), "subject"
    first = inner[0] if isinstance(inner, list) and inner else None
    fields = list(first.keys()) if first is not None else []
    return all(f.encode() in got for f in fields), fields


# What a person reading these messages sees, stated by hand for the files that are about it.
EXPECTED: dict[str, dict[str, Any]] = {
    "03-utf7-pgp-signed.eml": {"text_contains": ["Grüße aus Köln, café.", "\ufffdiQEz"]},
    "08-rfc2047-filename.eml": {"filenames": ["Résumé 2026.pdf"]},
    "09-rfc2231-params.eml": {"filenames": ["€ rates 2026.bin", "Schöne Grüße.txt"]},
    "10-html-only-entities.eml": {"snippet": "Café & crème <b> €5 — today Second block"},
    "11-whitespace-text-with-html.eml": {"snippet": "Your invoice #42 is ready."},
    "13-display-name-without-address.eml": {"from": [], "to": []},
    "14-attached-message.eml": {"filenames": ["Original résumé"],
                                "text_lacks": ["Inner body"]},
    "15-attached-message-named.eml": {"filenames": ["complaint.eml"],
                                      "text_lacks": ["Inline text of the complaint"]},
    "16-bounce-dsn.eml": {"types": ["message/delivery-status", "message/rfc822"],
                          "download_contains": [b"Action: failed", b"Status: 5.1.1",
                                                b"Reporting-MTA: dns; mx.example.org"],
                          "report": [("Reporting-MTA", "dns; mx.example.org"),
                                     ("Action", "failed"), ("Status", "5.1.1"),
                                     ("Diagnostic-Code", "smtp; 550 5.1.1 "
                                      "<nobody@nowhere.example>: Recipient address rejected")]},
    "17-bounce-headers-only.eml": {"types": ["message/delivery-status", "text/rfc822-headers"],
                                   "report": [("Action", "delayed"), ("Status", "4.4.7")]},
    "18-mdn-read-receipt.eml": {"types": ["message/disposition-notification"],
                                "report": [("Disposition",
                                            "manual-action/MDN-sent-manually; displayed")]},
    "31-inline-image-cid.eml": {"types": []},
    "36-digest.eml": {"types": ["message/rfc822", "message/rfc822"]},
}


def test_the_corpus_through_the_real_sync_path(gw: TestClient, emu: RunningEmulator,
                                               db: Database, tenant_a: TenantWorld,
                                               worker: SyncWorker) -> None:
    files = {p.name: p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))}
    assert len(files) >= 30
    delivered: dict[str, dict[str, Any]] = {}
    for name in files:
        if name not in LATE:
            delivered[name] = emu.control.deliver(GOOGLE_ALICE, files[name])
    mailbox_id = connect(gw, emu, tenant_a, ["read"]).mailbox_id
    assert worker.run_until_idle() == 1  # the full sync
    for name in sorted(LATE):
        delivered[name] = emu.control.deliver(GOOGLE_ALICE, files[name])
    with db.transaction() as session:
        session.execute(update(Mailbox).where(Mailbox.id == mailbox_id).values(
            sync_requested_at=datetime.now(UTC)))
    assert worker.run_until_idle() == 1  # the incremental sync

    checks = Checks()
    headers = tenant_a.crm.headers()
    base = f"/v1/mailboxes/{mailbox_id}"
    export = gw.get(f"{base}/export", headers=tenant_a.end_user.headers("user_rights"))
    assert export.status_code == 200
    exported = {line["id"]: line for line in map(json.loads,
                                                 export.content.decode("utf-8").splitlines())
                if line["type"] == "message"}
    for name, raw in files.items():
        gmail_id, thread_id = delivered[name]["id"], delivered[name]["threadId"]
        check = lambda what, ok, detail="", n=name: checks.check(n, what, ok, detail)  # noqa: E731
        got_raw = gw.get(f"{base}/messages/{gmail_id}/raw", headers=headers)
        check("raw bytes", got_raw.status_code == 200 and got_raw.content == raw)
        response = gw.get(f"{base}/messages/{gmail_id}/content", headers=headers)
        if not check("content view 200", response.status_code == 200, response.text):
            continue
        view, ref = _json(response), reference(raw)
        check("thread id", view["thread_id"] == thread_id, view["thread_id"])
        for field in ("subject", "text", "html", "from", "to", "cc", "snippet"):
            check(field, view[field] == ref[field], (view[field], ref[field]))
        check("header names", [h["name"] for h in view["headers"]] == ref["header_names"])
        listed = [(a["part_id"], a["mime_type"], a["filename"]) for a in view["attachments"]]
        wanted = [(a["part_id"], a["mime_type"], a["filename"]) for a in ref["attachments"]]
        check("attachment list", listed == wanted, (listed, wanted))
        for attachment, expected in zip(view["attachments"], ref["attachments"], strict=False):
            download = gw.get(f"{base}/messages/{gmail_id}/attachments/{attachment['part_id']}",
                              headers=headers)
            ok, detail = _attachment_bytes_ok(raw, expected["part"], download.content)
            check(f"attachment {attachment['part_id']} bytes",
                  download.status_code == 200 and ok
                  and len(download.content) == attachment["size"], detail)
        thread = gw.get(f"{base}/threads/{thread_id}?view=content", headers=headers)
        check("thread content view", thread.status_code == 200
              and gmail_id in [m["id"] for m in _json(thread)["messages"]], thread.status_code)
        line = exported.get(gmail_id, {})
        check("export", base64.urlsafe_b64decode(line.get("raw", "")) == raw
              and line.get("text") == view["text"])
        for key, value in EXPECTED.get(name, {}).items():
            if key == "filenames":
                check(key, [a["filename"] for a in view["attachments"]] == value)
            elif key == "types":
                check(key, [a["mime_type"] for a in view["attachments"]] == value)
            elif key == "text_contains":
                check(key, all(v in view["text"] for v in value), view["text"])
            elif key == "text_lacks":
                check(key, not any(v in view["text"] + view["snippet"] for v in value))
            elif key == "report":
                fields = {(f["name"], f["value"]) for r in view["reports"]
                          for block in r["fields"] for f in block}
                check(key, set(value) <= fields, view["reports"])
            elif key == "download_contains":
                parts = [a["part_id"] for a in view["attachments"]
                         if a["mime_type"] == "message/delivery-status"]
                body = gw.get(f"{base}/messages/{gmail_id}/attachments/{parts[0]}",
                              headers=headers).content if parts else b""
                check(key, all(v in body for v in value), body)
            else:
                check(key, view[key] == value, view[key])

    threads = {name: d["threadId"] for name, d in delivered.items()}
    checks.check("threads", "a reply chain is one thread", threads["14-attached-message.eml"]
                 == threads["33-reply-to-attached.eml"] == threads["34-reply-reply.eml"])
    print(f"\ncorpus: {len(files)} messages, {checks.passed} checks passed, "
          f"{len(checks.failed)} failed")
    assert checks.failed == []
