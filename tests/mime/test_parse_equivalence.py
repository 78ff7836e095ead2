"""The fast parse sync uses (gateway.mime.split) gives exactly what the standard library's
feed parser gives: the same summary fields, headers, bodies and attachment metadata, for the
emulator's generated mailboxes, the mail tests' factory messages and hand-made edge cases
(encoded words, RFC 2231 file names, 8-bit bodies, LF-only and mixed line endings, nesting,
preambles, missing separators, broken boundaries). Cases outside what the fast path reproduces
must be declined (and then parsed by the standard parser), never parsed differently."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from emulator.clock import Clock
from emulator.mailbox import Mailbox as EmulatorMailbox
from emulator.mime import INLINE_LIMIT_DEFAULT
from emulator.seed import generate
from gateway.mime.parse import parse_message, parse_message_reference
from gateway.mime.split import split_message
from tests.mail.factories import make_raw


def _emulator_samples(count: int, seed: int) -> list[bytes]:
    box = EmulatorMailbox("alice@example.com", Clock(), INLINE_LIMIT_DEFAULT)
    generate(box, count, seed=seed)
    return [m.raw for m in box.messages.values()]


def test_emulator_mailboxes_parse_identically_on_the_fast_path() -> None:
    samples = _emulator_samples(150, 3) + _emulator_samples(150, 11)
    assert any(b"Content-Disposition: attachment" in raw for raw in samples)
    for raw in samples:
        assert split_message(raw) is not None  # the fast path is really taken
        assert parse_message(raw) == parse_message_reference(raw)


def _factory_samples() -> list[bytes]:
    return [
        make_raw("Plain", "hello"),
        make_raw("Grüße aus Köln — ünïcödé", "Text mit Umlauten: äöü ß\n€ 100",
                 sender="Jürgen Müller <juergen@beispiel.example>",
                 cc="\"Doe, Jane\" <jane@x.example>, bob@y.example"),
        make_raw("With HTML", "plain part", html="<p>Hello <b>there</b></p>"),
        make_raw("Attachment", "see attached", attachment=b"%PDF-1.4 " + bytes(range(256)) * 40),
        make_raw("Unicode file", "x", attachment=b"data" * 100, filename="Résumé \u2013 2026.pdf"),
        make_raw("日本語の件名", "本文です。", html="<p>本文</p>", attachment=b"\x00\x01" * 999,
                 filename="報告書.xlsx", mime_type="application/vnd.ms-excel"),
    ]


def _built(**kwargs: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "=?utf-8?q?Ren=C3=A9e?= <renee@example.org>"
    msg["To"] = "undisclosed-recipients:;"
    msg["Subject"] = "=?iso-8859-1?q?caf=E9?= and =?utf-8?b?8J+Ygg==?= mixed"
    msg["X-Long"] = "a " * 80
    msg.set_content("latin body café", charset="iso-8859-1", cte="8bit")
    msg.add_alternative("<p>café</p>", subtype="html", cte="quoted-printable")
    inner = EmailMessage()
    inner["Subject"] = "forwarded"
    inner.set_content("inner body")
    msg.add_attachment(inner)  # message/rfc822: declined, parsed by the standard parser
    return bytes(msg)


CRLF_MULTIPART = (
    b"From: a@example.com\r\nTo: b@example.com\r\nSubject: edge\r\n"
    b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
    b"preamble line\r\n--XX\r\n"
    b"Content-Type: multipart/alternative; boundary=YY\r\n\r\n"
    b"--YY\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain =C3=A9\r\n--XX-not\r\n"
    b"--YY \r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"<p>caf=C3=A9</p>\n--YY--\r\nepilogue of YY\r\n"
    b"--XX\r\nContent-Type: application/octet-stream; name*=UTF-8''na%C3%AFve.bin\r\n"
    b"Content-Disposition: attachment; filename*=UTF-8''na%C3%AFve.bin\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\nAwQF\r\n--XX\r\n\r\nno headers here\r\n"
    b"--XX\r\nX-Only: header\r\n--XX\r\nnot a header line\r\nbody\r\n--XX--   \r\nthe end\r\n")

EDGE_CASES = [
    CRLF_MULTIPART,
    CRLF_MULTIPART.replace(b"\r\n", b"\n"),
    b"Subject: no body",
    b"Subject: folded\r\n  continuation\r\n\tand tab\r\nX-Empty:\r\n\r\nbody\r\nlast line",
    b"Subject: missing separator\r\nthis line is body\r\nmore\r\n",
    b"\r\nbody without headers\r\n",
    b"Subject: bare CR\rX: y\r\n\r\nbody\r",  # declined
    b"From sender Tue Nov 10 2026\r\nSubject: unix from\r\n\r\nx",  # declined
    b"Subject: 8bit\r\nContent-Type: text/plain; charset=latin-1\r\n\r\ncaf\xe9 cr\xe8me\r\n",
    b"Subject: \xc3\xa9 raw utf-8 header\r\nFrom: J\xc3\xbcrgen <j@x.example>\r\n\r\nx",
    b"Content-Type: multipart/mixed; boundary=Q\r\n\r\n--Q\r\n\r\nonly part\r\n",  # no close
    b"Content-Type: multipart/mixed; boundary=Q\r\n\r\nno boundary at all\r\n",
    b"Content-Type: multipart/mixed\r\n\r\n--Q\r\n\r\nx\r\n--Q--\r\n",  # no boundary param
    b"Content-Type: multipart/mixed; boundary=Q\r\n\r\n--Q\r\n--Q\r\n\r\nx\r\n--Q--\r\n",
    b"Content-Type: multipart/mixed; boundary=Q\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"--Q\r\n\r\nx\r\n--Q--\r\n",
    b"Content-Type: multipart/digest; boundary=Q\r\n\r\n--Q\r\n\r\nSubject: d\r\n\r\nx\r\n--Q--",
    b"Content-Type: text/plain; charset=unknown-8bit-x\r\n\r\n\xff\xfe odd charset\r\n",
    b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nnot base64!!\r\n",
    b"Content-Type: multipart/mixed; boundary=\"=_a b\"\r\n\r\n--=_a b\r\n"
    b"Content-Disposition: inline; filename=\"=?utf-8?b?w6kudHh0?=\"\r\n\r\nx\r\n--=_a b--",
]


@pytest.mark.parametrize("raw", [*_factory_samples(), _built(), *EDGE_CASES])
def test_edge_cases_parse_identically(raw: bytes) -> None:
    assert parse_message(raw) == parse_message_reference(raw)


def test_the_fast_path_declines_what_it_does_not_reproduce() -> None:
    assert split_message(b"Subject: bare CR\rX: y\r\n\r\nbody\r") is None
    assert split_message(_built()) is None  # message/rfc822 part
    assert split_message(EDGE_CASES[10]) is None  # no close boundary
    assert split_message(EDGE_CASES[13]) is None  # adjacent boundary lines
    assert split_message(CRLF_MULTIPART) is not None
    assert split_message(CRLF_MULTIPART.replace(b"\r\n", b"\n")) is not None
    assert all(split_message(raw) is not None for raw in _factory_samples())
