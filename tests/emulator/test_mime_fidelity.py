"""The bar: raw round trip is byte-identical; format=full mirrors the MIME structure."""

from __future__ import annotations

import base64
import email
from typing import Any

from .conftest import ALICE
from .discovery_schema import validate
from .samples import NESTED, NESTED_TREE, PDF, PNG, b64url


def _walk(part: dict[str, Any]) -> list[dict[str, Any]]:
    out = [part]
    for child in part.get("parts", []):
        out.extend(_walk(child))
    return out


def _decode(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def test_insert_then_raw_is_byte_identical(gmail: Any) -> None:
    inserted = gmail.users().messages().insert(
        userId="me", body={"raw": b64url(NESTED), "labelIds": ["INBOX"]}).execute()
    got = gmail.users().messages().get(userId="me", id=inserted["id"], format="raw").execute()
    assert _decode(got["raw"]) == NESTED
    assert got["sizeEstimate"] == len(NESTED)
    assert got["labelIds"] == ["INBOX"]


def test_full_part_tree_matches_mime_structure(gmail: Any) -> None:
    inserted = gmail.users().messages().insert(userId="me", body={"raw": b64url(NESTED)}).execute()
    msg = gmail.users().messages().get(userId="me", id=inserted["id"], format="full").execute()
    parts = _walk(msg["payload"])
    shape = [(p["partId"], p["mimeType"], p["filename"], "attachmentId" in p["body"],
              len(p.get("parts", []))) for p in parts]
    assert shape == NESTED_TREE
    # The same structure, derived independently by the stdlib parser.
    reference = [p.get_content_type() for p in email.message_from_bytes(NESTED).walk()]
    assert [p["mimeType"] for p in parts] == reference
    by_id = {p["partId"]: p for p in parts}
    plain = _decode(by_id["0.0.0"]["body"]["data"])
    assert plain == "Hello Alice,\r\nthe résumé is attached. It's <final>.".encode()
    assert by_id["0.0.0"]["body"]["size"] == len(plain)
    html = _decode(by_id["0.0.1"]["body"]["data"])
    assert html.startswith(b"<p>Hello Alice,</p>")
    assert by_id[""]["body"] == {"size": 0}
    headers = {h["name"]: h["value"] for h in msg["payload"]["headers"]}
    assert headers["From"] == "Carol François <carol@example.org>"
    assert headers["Subject"] == "Quarterly résumé with attachment"
    assert headers["Received"].startswith("from mx.example.org by mx.google.com")
    assert [h["name"] for h in msg["payload"]["headers"]][:3] == ["Return-Path", "Received",
                                                                 "From"]
    assert msg["snippet"].startswith("Hello Alice, the résumé is attached. It&#39;s &lt;final&gt;")


def test_attachments_get_returns_decoded_bytes(gmail: Any) -> None:
    inserted = gmail.users().messages().insert(userId="me", body={"raw": b64url(NESTED)}).execute()
    msg = gmail.users().messages().get(userId="me", id=inserted["id"]).execute()
    parts = {p["partId"]: p for p in _walk(msg["payload"])}
    for part_id, expected in (("1", PDF), ("0.1", PNG)):
        body = parts[part_id]["body"]
        assert body["size"] == len(expected)
        att = gmail.users().messages().attachments().get(
            userId="me", messageId=inserted["id"], id=body["attachmentId"]).execute()
        assert _decode(att["data"]) == expected
        assert att["size"] == len(expected)


def test_metadata_and_minimal_formats(gmail: Any) -> None:
    inserted = gmail.users().messages().insert(userId="me", body={"raw": b64url(NESTED)}).execute()
    meta = gmail.users().messages().get(userId="me", id=inserted["id"], format="metadata",
                                        metadataHeaders=["Subject", "from"]).execute()
    assert [h["name"] for h in meta["payload"]["headers"]] == ["From", "Subject"]
    assert "parts" not in meta["payload"] and "body" not in meta["payload"]
    minimal = gmail.users().messages().get(userId="me", id=inserted["id"],
                                           format="minimal").execute()
    assert "payload" not in minimal and "raw" not in minimal
    assert set(minimal) >= {"id", "threadId", "snippet", "historyId", "internalDate",
                            "sizeEstimate"}
    validate(minimal, "Message")


def test_large_text_part_moves_to_attachment(emu: Any, gmail: Any) -> None:
    emu.control.set_settings(inline_limit=1024)
    emu.control.reset()  # mailboxes pick up the inline limit when created
    from .conftest import credentials, gmail_service
    svc = gmail_service(emu, credentials(emu))
    big = ("Subject: big\r\nContent-Type: text/plain\r\n\r\n" + "x" * 5000 + "\r\n").encode()
    inserted = svc.users().messages().insert(userId="me", body={"raw": b64url(big)}).execute()
    msg = svc.users().messages().get(userId="me", id=inserted["id"]).execute()
    assert "attachmentId" in msg["payload"]["body"] and "data" not in msg["payload"]["body"]
    emu.control.set_settings(inline_limit=512 * 1024)


def test_import_uses_date_header_and_insert_receipt_time(gmail: Any, emu: Any) -> None:
    imported = gmail.users().messages().import_(userId="me", body={"raw": b64url(NESTED)}
                                                ).execute()
    got = gmail.users().messages().get(userId="me", id=imported["id"], format="minimal").execute()
    assert got["internalDate"] == "1704218400000"
    inserted = gmail.users().messages().insert(
        userId="me", body={"raw": b64url(NESTED)}, internalDateSource="receivedTime").execute()
    got = gmail.users().messages().get(userId="me", id=inserted["id"], format="minimal").execute()
    assert abs(int(got["internalDate"]) - emu.state.clock.now_ms()) < 60_000


def test_control_inspection_sees_the_same_message(emu: Any, gmail: Any) -> None:
    inserted = gmail.users().messages().insert(userId="me", body={"raw": b64url(NESTED)}).execute()
    listed = emu.control.messages(ALICE, format="raw")
    assert _decode(listed[0]["raw"]) == NESTED and listed[0]["id"] == inserted["id"]
