"""Whatever a message holds, the API answers with valid Unicode in valid JSON: a Hypothesis
property over generated hostile MIME (charsets, transfer encodings, nesting, malformed headers),
stored in the real store and read through the real API; and the rules one by one (the
replacement rule, attached messages and reports as attachments, addresses, snippets)."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from gateway.kit.db import Database
from gateway.mail.models import Message
from gateway.mailboxes.models import Mailbox
from gateway.runtime import runtime_of
from tests.mail.factories import store_message
from tests.support.world import TenantWorld

_IDS = itertools.count()

CHARSETS = ["utf-8", "utf-7", "iso-8859-1", "windows-1252", "shift_jis", "koi8-r", "utf-16",
            "us-ascii", "x-no-such-charset", "", '"utf-8', "gb2312", "iso-2022-jp"]
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus", ""]
LINE_ENDS = [b"\r\n", b"\n"]
HOSTILE_TEXT = [b"+2D0-", b"+2D3cAA-", b"+ZeVnLIqe-", b"\xff\xfe\x00", b"\xed\xa0\x80",
                b"caf\xe9", b"&nbsp;&amp;&#xD800;&#0;", b"=?utf-8?b?////?=", b"=C3=", b"\x00"]


def _encoded_word(charset: str, data: bytes, kind: str) -> bytes:
    if kind == "B":
        payload = base64.b64encode(data)
    else:
        payload = b"".join(bytes([c]) if 48 <= c < 123 and c != 61 else b"=%02X" % c
                           for c in data)
    return b"=?" + charset.encode() + b"?" + kind.encode() + b"?" + payload + b"?="


header_values = st.one_of(
    st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.builds(_encoded_word, st.sampled_from(CHARSETS), st.binary(max_size=20),
              st.sampled_from(["B", "Q", "X"])),
    st.sampled_from([b'"J\xc3\xbcrgen"', b"=?utf-8?q?J=C3=BCrgen?=", b"undisclosed:;",
                     b"<>", b"a@", b"@b", b"Name <x@y.example", b'"\\', b"(comment)"]))

bodies = st.one_of(
    st.binary(max_size=120),
    st.lists(st.sampled_from(HOSTILE_TEXT), max_size=6).map(b"".join),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")))


@st.composite
def leaf(draw: st.DrawFn) -> list[bytes]:
    ctype = draw(st.sampled_from(["text/plain", "text/html", "application/octet-stream",
                                  "text/calendar", "message/delivery-status",
                                  "text/rfc822-headers", "image/png", "text/x-weird"]))
    lines = [b"Content-Type: " + ctype.encode() + b"; charset=" +
             draw(st.sampled_from(CHARSETS)).encode()]
    encoding = draw(st.sampled_from(ENCODINGS))
    if encoding:
        lines.append(b"Content-Transfer-Encoding: " + encoding.encode())
    if draw(st.booleans()):
        lines.append(b"Content-Disposition: attachment; filename=" + draw(header_values))
    body = draw(bodies)
    if encoding == "base64" and draw(st.booleans()):
        body = base64.encodebytes(body)
    return [*lines, b"", body]


def _multipart(children: list[list[bytes]], subtype: str, boundary: bytes,
               close: bool) -> list[bytes]:
    out = [b"Content-Type: multipart/" + subtype.encode() + b'; boundary="' + boundary + b'"',
           b"", b"preamble"]
    for child in children:
        out += [b"--" + boundary, *child]
    if close:
        out.append(b"--" + boundary + b"--")
    return out


def _attached(inner: list[bytes]) -> list[bytes]:
    return [b"Content-Type: message/rfc822", b"", b"Subject: inner \xe9", b"From: x@y.example",
            *inner]


parts = st.recursive(
    leaf(),
    lambda children: st.one_of(
        st.builds(_multipart, st.lists(children, min_size=0, max_size=3),
                  st.sampled_from(["mixed", "alternative", "related", "report", "digest"]),
                  st.sampled_from([b"b1", b"b2", b"=_x", b"b1"]), st.booleans()),
        children.map(_attached)),
    max_leaves=6)


@st.composite
def hostile_messages(draw: st.DrawFn) -> bytes:
    top = [b"From: " + draw(header_values), b"To: " + draw(header_values),
           b"Subject: " + draw(header_values), b"Date: " + draw(header_values)]
    if draw(st.booleans()):
        top.append(b"X-Folded: first\r\n\tsecond \xff")
    if draw(st.booleans()):
        top.append(b"Broken header line without colon")
    lines = [*top, b"MIME-Version: 1.0", *draw(parts)]
    return b"".join(line + draw(st.sampled_from(LINE_ENDS)) for line in lines)


def _valid_json(response: Any) -> Any:
    body: bytes = response.content
    text = body.decode("utf-8")  # strict: raises on invalid UTF-8
    text.encode("utf-8")  # and no surrogate escaped into the document
    return json.loads(text)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(raw=hostile_messages())
def test_any_message_gets_a_valid_json_content_view(client: TestClient, db: Database,
                                                    tenant_a: TenantWorld, raw: bytes) -> None:
    gmail_id = f"h{next(_IDS)}"
    crypto = runtime_of(client.app).crypto
    store_message(db, crypto, tenant_a.mailbox, gmail_id, "t" + gmail_id, raw)
    base = f"/v1/mailboxes/{tenant_a.mailbox.id}"
    headers = tenant_a.crm.headers()
    for url in (f"{base}/messages/{gmail_id}/content", f"{base}/messages/{gmail_id}",
                f"{base}/threads/t{gmail_id}?view=content"):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        _valid_json(response)
    view = client.get(f"{base}/messages/{gmail_id}/content", headers=headers).json()
    for attachment in view["attachments"]:
        download = client.get(f"{base}/messages/{gmail_id}/attachments/{attachment['part_id']}",
                              headers=headers)
        assert download.status_code in (200, 413), download.text
        if download.status_code == 200:
            assert len(download.content) == attachment["size"]


def _store(client: TestClient, db: Database, world: TenantWorld, gmail_id: str,
           raw: bytes) -> dict[str, Any]:
    store_message(db, runtime_of(client.app).crypto, world.mailbox, gmail_id, "t-" + gmail_id, raw)
    response = client.get(f"/v1/mailboxes/{world.mailbox.id}/messages/{gmail_id}/content",
                          headers=world.crm.headers())
    assert response.status_code == 200, response.text
    result: dict[str, Any] = _valid_json(response)
    return result


PGP_UTF7 = (b"From: Dana <dana@example.org>\r\nTo: alice@example.com\r\n"
            b"Subject: signed\r\nContent-Type: text/plain; charset=utf-7\r\n\r\n"
            b"Hello +AOk-t+AOk-\r\n-----BEGIN PGP SIGNATURE-----\r\n+2D0-iQEz+2D3c-\r\n")


def test_a_utf7_body_with_lone_surrogates_is_replaced_not_a_500(
        client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    view = _store(client, db, tenant_a, "u7", PGP_UTF7)
    assert view["text"].startswith("Hello été\r\n-----BEGIN PGP SIGNATURE-----\r\n\ufffdiQEz")
    assert view["snippet"].startswith("Hello été -----BEGIN PGP SIGNATURE----- \ufffdiQEz")
    thread = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}/threads/t-u7?view=content",
                        headers=tenant_a.crm.headers())
    assert thread.status_code == 200
    assert _valid_json(thread)["messages"][0]["text"] == view["text"]
    export = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}/export",
                        headers=tenant_a.end_user.headers("user_rights"))
    assert export.status_code == 200
    lines = [json.loads(line) for line in export.content.decode("utf-8").splitlines()]
    assert lines[1]["text"] == view["text"]
    assert base64.urlsafe_b64decode(lines[1]["raw"]) == PGP_UTF7  # raw bytes untouched


def test_undecodable_header_bytes_are_utf8_where_they_form_it(
        client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    raw = (b"From: x@example.org\r\nSubject: caf\xc3\xa9 \xff end\r\nX-Note: \xed\xa0\x80\r\n"
           b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nna\xc3\xafve \xff\r\n")
    view = _store(client, db, tenant_a, "hb", raw)
    assert view["subject"] == "café \ufffd end"
    assert view["text"] == "naïve \ufffd\r\n"  # an unknown charset: UTF-8, replaced


def test_a_stored_document_with_a_lone_surrogate_is_served_replaced(
        client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    """The read side applies the rule too, whatever the sealed document holds."""
    crypto = runtime_of(client.app).crypto
    store_message(db, crypto, tenant_a.mailbox, "ls", "t-ls", PGP_UTF7)
    with db.transaction() as session:
        row = session.scalars(select(Message).where(Message.gmail_id == "ls")).one()
        box = session.get(Mailbox, tenant_a.mailbox.id)
        assert box is not None
        sealer = crypto.sealer(session, box.tenant_id, box.id)
        row.body = sealer.seal("messages", "body", str(row.id),
                               b'{"text":"a\\ud83d b \\ud83d\\ude00","html":"\\udc80"}')
    response = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}/messages/ls/content",
                          headers=tenant_a.crm.headers())
    assert response.status_code == 200
    view = _valid_json(response)
    assert (view["text"], view["html"]) == ("a\ufffd b \U0001f600", "\ufffd")


ATTACHED = (b"From: Forwarder <fwd@example.org>\r\nTo: alice@example.com\r\n"
            b"Subject: FW: the original\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
            b"--outer\r\nContent-Type: text/plain\r\n\r\nSee the attached message.\r\n"
            b"--outer\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n")
INNER = (b"From: Origin <origin@example.net>\r\nSubject: =?utf-8?q?Ang=C3=A9lique?=\r\n"
         b"Content-Type: text/plain\r\n\r\nInner text that is not the parent's body.")
DSN_PART = (b"Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; "
            b"bob@nowhere.example\r\nAction: failed\r\nStatus: 5.1.1\r\n")


def test_an_attached_message_is_an_attachment_with_its_own_bytes(
        client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    view = _store(client, db, tenant_a, "fw", ATTACHED + INNER + b"\r\n--outer--\r\n")
    assert view["text"] == "See the attached message."
    assert "Inner text" not in view["snippet"]
    assert view["attachments"] == [{"part_id": "1", "filename": "Angélique",
                                    "mime_type": "message/rfc822", "size": len(INNER)}]
    assert view["attachment_count"] == 1 and view["attachment_names"] == ["Angélique"]
    download = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}/messages/fw/attachments/1",
                          headers=tenant_a.crm.headers())
    assert download.status_code == 200
    assert download.content == INNER
    assert download.headers["content-type"].startswith("message/rfc822")
    assert "filename*=UTF-8''Ang%C3%A9lique.eml" in download.headers["content-disposition"]


def test_a_bounce_keeps_its_delivery_status_fields(
        client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    raw = (b"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
           b"To: alice@example.com\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n"
           b"--r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
           b"--r\r\nContent-Type: message/delivery-status\r\n\r\n" + DSN_PART +
           b"\r\n--r\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\n"
           b"--r--\r\n")
    view = _store(client, db, tenant_a, "dsn", raw)
    assert view["text"] == "Your message could not be delivered."
    assert [(a["part_id"], a["mime_type"]) for a in view["attachments"]] == [
        ("1", "message/delivery-status"), ("2", "text/rfc822-headers")]
    download = client.get(f"/v1/mailboxes/{tenant_a.mailbox.id}/messages/dsn/attachments/1",
                          headers=tenant_a.crm.headers())
    assert download.status_code == 200 and download.content == DSN_PART
    assert view["attachments"][0]["size"] == len(DSN_PART)
    assert view["reports"] == [{"part_id": "1", "mime_type": "message/delivery-status", "fields": [
        [{"name": "Reporting-MTA", "value": "dns; mx.example.org"}],
        [{"name": "Final-Recipient", "value": "rfc822; bob@nowhere.example"},
         {"name": "Action", "value": "failed"}, {"name": "Status", "value": "5.1.1"}]]}]


def test_a_display_name_without_an_address_is_not_an_address(
        client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    raw = (b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?=\r\n"
           b"To: undisclosed-recipients:;, real@example.org, Plain Name, root\r\n"
           b"Subject: names\r\n\r\nbody\r\n")
    view = _store(client, db, tenant_a, "dn", raw)
    assert view["from"] == [] and view["to"] == ["real@example.org"]
    assert {"name": "From", "value": '"Jürgen Müller"'} in view["headers"]


def test_snippets_are_the_visible_text(client: TestClient, db: Database,
                                       tenant_a: TenantWorld) -> None:
    html = (b"<html><head><title>T</title><style>p{color:red}</style></head><body>"
            b"<!-- hidden --><p>Hello&nbsp;Alice &amp; Bob</p><script>alert(1)</script>"
            b"<div>caf&eacute; &lt;ok&gt;</div></body></html>")
    html_only = (b"From: n@example.org\r\nSubject: html\r\nContent-Type: text/html; "
                 b"charset=utf-8\r\n\r\n" + html)
    assert _store(client, db, tenant_a, "h1", html_only)["snippet"] == \
        "Hello Alice & Bob café <ok>"
    blank_text = (b"From: n@example.org\r\nSubject: alt\r\nMIME-Version: 1.0\r\n"
                  b'Content-Type: multipart/alternative; boundary="a"\r\n\r\n'
                  b"--a\r\nContent-Type: text/plain\r\n\r\n \r\n\t\r\n"
                  b"--a\r\nContent-Type: text/html\r\n\r\n" + html + b"\r\n--a--\r\n")
    view = _store(client, db, tenant_a, "h2", blank_text)
    assert view["snippet"] == "Hello Alice & Bob café <ok>"
    assert view["text"] == " \r\n\t"  # the body itself is served as it is
