"""Hand-written RFC 5322 messages whose exact bytes the tests compare."""

from __future__ import annotations

import base64

PDF = b"%PDF-1.4\n% emulator test\n" + bytes(range(256)) * 8
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x01\x02\xff" * 300


def _b64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


NESTED = (
    b"Return-Path: <carol@example.org>\r\n"
    b"Received: from mx.example.org by mx.google.com with ESMTPS id x1;\r\n"
    b"        Tue, 02 Jan 2024 10:00:00 -0800 (PST)\r\n"
    b"From: =?utf-8?q?Carol_Fran=C3=A7ois?= <carol@example.org>\r\n"
    b"To: Alice <alice@example.com>, dave@example.net\r\n"
    b"Cc: team@example.org\r\n"
    b"Subject: =?utf-8?b?UXVhcnRlcmx5IHLDqXN1bcOp?= with attachment\r\n"
    b"Date: Tue, 02 Jan 2024 10:00:00 -0800\r\n"
    b"Message-ID: <nested-1@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"X-Odd-Header:   keeps   its   spacing   \r\n"
    b'Content-Type: multipart/mixed; boundary="mixed-boundary"\r\n'
    b"\r\n"
    b"This is a preamble that clients ignore.\r\n"
    b"--mixed-boundary\r\n"
    b'Content-Type: multipart/related; boundary="related-boundary"\r\n'
    b"\r\n"
    b"--related-boundary\r\n"
    b'Content-Type: multipart/alternative; boundary="alt-boundary"\r\n'
    b"\r\n"
    b"--alt-boundary\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Hello Alice,=0D=0A=\r\n"
    b"the r=C3=A9sum=C3=A9 is attached. It's <final>.\r\n"
    b"--alt-boundary\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"<p>Hello Alice,</p><p>the r\xc3\xa9sum\xc3\xa9 is attached.</p>"
    b'<img src="cid:logo@example.org">\r\n'
    b"--alt-boundary--\r\n"
    b"--related-boundary\r\n"
    b"Content-Type: image/png\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-ID: <logo@example.org>\r\n"
    b"Content-Disposition: inline\r\n"
    b"\r\n" + _b64_lines(PNG) + b"\r\n"
    b"--related-boundary--\r\n"
    b"--mixed-boundary\r\n"
    b'Content-Type: application/pdf; name="report 2024.pdf"\r\n'
    b'Content-Disposition: attachment; filename="report 2024.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + _b64_lines(PDF) + b"\r\n"
    b"--mixed-boundary--\r\n"
    b"An epilogue, also ignored.\r\n"
)

# (partId, mimeType, filename, has attachmentId, child count)
NESTED_TREE = [
    ("", "multipart/mixed", "", False, 2),
    ("0", "multipart/related", "", False, 2),
    ("0.0", "multipart/alternative", "", False, 2),
    ("0.0.0", "text/plain", "", False, 0),
    ("0.0.1", "text/html", "", False, 0),
    ("0.1", "image/png", "", True, 0),
    ("1", "application/pdf", "report 2024.pdf", True, 0),
]


def simple(subject: str, *, sender: str = "carol@example.org", to: str = "alice@example.com",
           body: str = "Hello there", msgid: str | None = None, in_reply_to: str | None = None,
           date: str = "Tue, 02 Jan 2024 10:00:00 +0000") -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {date}"]
    if msgid:
        lines.append(f"Message-ID: {msgid}")
    if in_reply_to:
        lines += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    lines += ["Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()
