"""The ingest parse's shortcuts give exactly what the standard library gives, and decline
everything else: header values in canonical form (gateway.mime.headers) against the
header registry and `getaddresses`, the base64 size without decoding against
`get_payload(decode=True)`, and bare CRs in the places where they change the feed parser's tree
against the standard parser."""

from __future__ import annotations

import base64
import random
from email.message import EmailMessage
from email.policy import default
from email.utils import getaddresses

import pytest

from gateway.mime.headers import fast_addresses, fast_value
from gateway.mime.parse import _base64_size, parse_message, parse_message_reference
from gateway.mime.split import _feed_parsed, _header_block, split_message

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
NASTY = ATEXT + ' .,;:<>@"()[]\\\t=?éÄ'


def _word(rng: random.Random, alphabet: str, low: int = 1, high: int = 8) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def _address_values(rng: random.Random) -> list[str]:
    out = ["Nils Haddad <nils.haddad@vandelay.test>", "a@x.test, b@y.test", "a@x.test,b@y.test",
           '"Nils Haddad" <n@x>', "Nils  Haddad <n@x>", "J. Smith <j@x>", "<n@x>", "n@x ",
           "undisclosed-recipients:;", "=?utf-8?q?Ren=C3=A9e?= <r@x>", "a@[1.2.3.4]",
           "Jürgen <j@x>", "n@x (comment)", "a@b, ", ", a@b", "a..b@x", ".a@x", "a@x."]
    for _ in range(400):
        items = []
        for _ in range(rng.randint(1, 3)):
            addr = f"{_word(rng, ATEXT)}.{_word(rng, ATEXT)}@{_word(rng, ATEXT)}.test"
            if rng.random() < 0.5:
                name = " ".join(_word(rng, ATEXT) for _ in range(rng.randint(1, 3)))
                items.append(f"{name} <{addr}>")
            else:
                items.append(addr)
        value = ", ".join(items)
        if rng.random() < 0.3:  # a near miss: one character from the nasty set
            at = rng.randrange(len(value))
            value = value[:at] + rng.choice(NASTY) + value[at + 1:]
        out.append(value)
    return out


def _param_values(rng: random.Random, with_type: bool) -> list[str]:
    out = ['multipart/alternative; boundary="0000000000008398d10cced1"',
           'text/plain; charset="UTF-8"', "text/plain; charset=UTF-8",
           'text/plain;  charset="UTF-8"', 'text/plain; charset="a\\"b"',
           "application/pdf; name*=UTF-8''na%C3%AFve.pdf", 'text/plain; name="=?utf-8?q?x?="',
           'attachment; filename="report.pdf"', "attachment", 'inline; filename="a b.txt"',
           'application/octet-stream; name="x"; x-mac-type="3F3F3F3F"']
    for _ in range(400):
        head = f"{_word(rng, 'abcXYZ-+.')}/{_word(rng, 'abcXYZ0-9.+')}" if with_type \
            else _word(rng, "abcXYZ-")
        params = "".join(f'; {_word(rng, "abcXYZ-_.", 1, 3)}="{_word(rng, NASTY[:-4], 0, 12)}"'
                         for _ in range(rng.randint(0, 3)))
        out.append(head + params)
    return out


@pytest.mark.parametrize("name", ["From", "To", "cc", "Reply-To", "Sender"])
def test_address_headers_in_canonical_form_print_as_the_registry_prints_them(name: str) -> None:
    rng = random.Random(name)
    taken = 0
    for value in _address_values(rng):
        fast = fast_value(name, value)
        if fast is not None:
            taken += 1
            assert fast == str(default.header_fetch_parse(name, value)), value
            assert fast_addresses(value) == getaddresses([value]), value
        else:
            assert fast_addresses(value) is None
    assert taken > 200  # the shortcut is really taken, not just always declined


@pytest.mark.parametrize(("name", "with_type"), [("Content-Type", True),
                                                  ("Content-Disposition", False)])
def test_parameter_headers_in_canonical_form_print_as_the_registry_prints_them(
        name: str, with_type: bool) -> None:
    taken = 0
    for value in _param_values(random.Random(name), with_type):
        fast = fast_value(name, value)
        if fast is not None:
            taken += 1
            assert fast == str(default.header_fetch_parse(name, value)), value
    assert taken > 100


def test_message_ids_and_dates_print_as_the_registry_prints_them() -> None:
    values = {
        "Message-ID": ["<CA5.3.9cc4741052@mail.gmail.com>", "<a b@c>", " <x@y> ", "<x@y>z",
                       "<x@[1.2.3.4]>", "<x.@y>", "x@y", "<=?utf-8?q?a?=@b>", "<a@b> <c@d>"],
        "Date": ["Mon, 24 Aug 2026 08:41:47 +0000", "Tue, 24 Aug 2026 08:41:47 +0000",
                 "24 Aug 2026 08:41:47 -0000", "garbage", "Mon, 31 Feb 2026 08:41:47 +0000",
                 "Mon, 24 Aug 2026 25:61:47 +0000", "Mon, 24 Aug 99999 08:41:47 +0000",
                 "Mon, 24 Aug 2026 08:41:47 GMT", "24 Aug 26 08:41 +0200", "1"],
    }
    for name, samples in values.items():
        for value in samples:
            fast = fast_value(name, value)
            try:
                expected = str(default.header_fetch_parse(name, value))
            except Exception:  # the registry raises: the shortcut must have declined
                assert fast is None, value
                continue
            assert fast is None or fast == expected, value
    assert fast_value("Date", "Mon, 24 Aug 2026 08:41:47 +0000") is not None
    assert fast_value("Message-ID", "<a.b@c.d>") == "<a.b@c.d>"


def _part(payload: str) -> EmailMessage:
    part = EmailMessage()
    part["Content-Type"] = "application/octet-stream"
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(payload)
    return part


def test_base64_size_is_the_decoded_length_or_declines() -> None:
    rng = random.Random(3)
    samples = ["", "AB==", "ABC=", "AB", "ABC", "A", "ABCD", "AB=C", "A===", "====", "AB==\r\n",
               "AB=\r\n=", "AB\r\nCD\r\n", "AB CD", "AB\rCD==", "ABCD\r\nEF==\r\n", "AB*D"]
    for size in (0, 1, 2, 3, 57, 58, 1000):
        encoded = base64.encodebytes(rng.randbytes(size)).decode()
        samples += [encoded, encoded.replace("\n", "\r\n"), encoded.rstrip("=\n"),
                    encoded.replace("=", "")]
    taken = 0
    for payload in samples:
        part = _part(payload)
        fast = _base64_size(part)
        decoded = part.get_payload(decode=True)
        assert isinstance(decoded, bytes)
        if fast is not None:
            taken += 1
            assert fast == len(decoded), repr(payload)
    assert taken > 20


BARE_CR_CASES = [
    b"Subject: a\rX-B: c\r\n\r\nbody\r\n",
    b"Subject: a\r\n\rbody\r\n",
    b"Subject: a\r\n\r\nbody with a bare\r CR is kept as is\r\n",
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n\r\none\r--XX\r\n\r\ntwo\r\n"
    b"--XX--\r\n",
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n\r\none\r\n--XX \rtwo\r\n"
    b"--XX--\r\n",
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n\r\none\r\r\n--XX\r\n\r\nt\rwo"
    b"\r\n--XX--\r\n",
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nX-A: 1\r2\r\n\r\none\r\n"
    b"--XX--\r\n",
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\npre\ramble\r\n--XX\r\n\r\none\r\n"
    b"--XX--\r\nepi\rlogue\r--XX\r\n",
]


@pytest.mark.parametrize("raw", BARE_CR_CASES)
def test_bare_crs_parse_as_the_standard_parser_parses_them(raw: bytes) -> None:
    assert parse_message(raw) == parse_message_reference(raw)


def test_bare_crs_in_bodies_keep_the_fast_path() -> None:
    assert split_message(BARE_CR_CASES[2]) is not None
    assert split_message(BARE_CR_CASES[5]) is not None
    assert split_message(BARE_CR_CASES[0]) is None  # in a header block
    assert split_message(BARE_CR_CASES[3]) is None  # just before a separator


@pytest.mark.parametrize("block", [
    b"", b"A: 1\r\nB: 2\r\n", b"A: 1\r\n  cont\r\n\tmore\r\nB:x", b" lead: x\r\nA: 1\r\n",
    b"A: 1\r\n: empty name\r\n", b"A:\r\n", b"A: \xe9t\xe9\r\nB:  two  spaces \r\n",
    b"Subject: a\n b\nTo: c@d\n"])
def test_header_blocks_are_read_as_the_feed_parser_reads_them(block: bytes) -> None:
    fast, reference = _header_block(block), _feed_parsed(block)
    assert fast._headers == reference._headers  # type: ignore[attr-defined]
    assert len(fast.defects) == len(reference.defects)
