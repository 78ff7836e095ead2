"""The emulator's `format=full` for the messages mail clients struggle with (attached messages,
reports, RFC 2047 filenames, UTF-7, blank text parts), and `--seed-eml` loading any message
files and saying what it loaded and skipped."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from emulator import seed
from emulator.cli import build_parser, seed_mailbox
from emulator.mime import parse_message
from emulator.render import message_resource
from emulator.state import EmulatorState
from tests.mail.read.test_text_fidelity import hostile_messages

from .conftest import ALICE
from .discovery_schema import validate

INNER = (b"From: Origin <origin@example.net>\r\nSubject: the original\r\n"
         b"Content-Type: text/plain\r\n\r\nInner text, not the parent's.")
FORWARD = (b"From: fwd@example.org\r\nTo: alice@example.com\r\nSubject: FW\r\n"
           b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="o"\r\n\r\n'
           b"--o\r\nContent-Type: text/plain\r\n\r\n\r\n \r\n"
           b"--o\r\nContent-Type: text/html\r\n\r\n<style>x{}</style><p>See&nbsp;attached</p>\r\n"
           b"--o\r\nContent-Type: message/rfc822\r\n\r\n" + INNER + b"\r\n"
           b"--o\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
           b'filename="=?utf-8?q?R=C3=A9sum=C3=A9.pdf?="\r\n\r\n%PDF\r\n--o--\r\n')


def _parts(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(p for child in node.get("parts", []) for p in _parts(child))]


def test_full_lists_an_attached_message_and_decodes_rfc2047_filenames() -> None:
    state = EmulatorState()
    box = state.add_user(ALICE).mailbox
    stored = box.add_message(FORWARD, {"INBOX"})
    full = message_resource(stored, "full")
    validate(full, "Message")
    parts = {p["partId"]: p for p in _parts(full["payload"])}
    assert parts["2"]["mimeType"] == "message/rfc822" and "parts" not in parts["2"]
    attachment = stored.parsed.attachments[parts["2"]["body"]["attachmentId"]]
    assert attachment.data == INNER and parts["2"]["body"]["size"] == len(INNER)
    assert parts["3"]["filename"] == "Résumé.pdf"
    assert full["snippet"] == "See attached"  # the blank text part: the HTML's text
    assert "Inner" not in full["snippet"]


def test_utf7_and_undecodable_bytes_give_valid_unicode() -> None:
    raw = (b"From: d@example.org\r\nSubject: =?utf-7?q?+2D0-?= \xff\r\n"
           b"Content-Type: text/plain; charset=utf-7\r\n\r\nsig +2D0-iQEz\r\n")
    parsed = parse_message(raw, "m1")
    json.dumps(parsed.payload, ensure_ascii=False).encode("utf-8")  # strict UTF-8
    assert parsed.snippet == "sig \ufffdiQEz"
    assert dict(parsed.headers)["Subject"].encode("utf-8")


def _write(root: Path, name: str, data: bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_seed_eml_loads_any_message_file_and_reports_the_skipped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    message = FORWARD
    _write(tmp_path, "a.eml", message)
    _write(tmp_path, "b.msg", message.replace(b"Subject: FW", b"Subject: b"))
    _write(tmp_path, "nested/c", message.replace(b"Subject: FW", b"Subject: c"))
    _write(tmp_path, "mbox-style.txt", b"From someone Mon Jan 1 00:00:00 2024\n" + message)
    _write(tmp_path, "empty.eml", b"")
    _write(tmp_path, "notes.md", b"# not a message\n")
    _write(tmp_path, ".hidden.eml", message)
    state = EmulatorState()
    box = state.add_user(ALICE).mailbox
    args = build_parser().parse_args(["serve", "--seed-eml", str(tmp_path),
                                      "--seed-eml", str(tmp_path / "*.msg"),
                                      "--seed-eml", str(tmp_path / "missing")])
    with caplog.at_level(logging.INFO, logger="emulator"):
        seed_mailbox(box, args)
    assert len(box.messages) == 4 + 1
    raws = sorted(m.raw for m in box.messages.values())
    assert raws.count(message.replace(b"Subject: FW", b"Subject: b")) == 2
    logged = caplog.text
    assert f"--seed-eml {tmp_path}: loaded 4 messages, skipped 2 files" in logged
    assert "empty.eml (empty)" in logged and "notes.md (not a message" in logged
    assert f"--seed-eml {tmp_path / '*.msg'}: loaded 1 messages, skipped 0 files" in logged
    assert f"--seed-eml {tmp_path / 'missing'}: loaded 0 messages, skipped 1 files" in logged


def test_seed_eml_glob_is_recursive_with_double_star(tmp_path: Path) -> None:
    _write(tmp_path, "x/y/one.mail", FORWARD)
    _write(tmp_path, "x/two.mail", FORWARD)
    _write(tmp_path, "x/three.eml", FORWARD)
    files = seed.message_files(str(tmp_path / "x" / "**" / "*.mail"))
    assert sorted(p.name for p in files) == ["one.mail", "two.mail"]
    args = build_parser().parse_args(["serve", "--seed-eml", "a/**/*", "--seed-eml", "b"])
    assert args.seed_eml == ["a/**/*", "b"]


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=hostile_messages())
def test_any_message_gets_a_valid_unicode_full_format(raw: bytes) -> None:
    state = EmulatorState()
    stored = state.add_user(ALICE).mailbox.add_message(raw, {"INBOX"})
    for fmt in ("full", "metadata", "minimal", "raw"):
        resource = message_resource(stored, fmt)
        json.dumps(resource, ensure_ascii=False).encode("utf-8")  # strict: no surrogate
    full = message_resource(stored, "full")
    validate(full, "Message")
    ids = [p["body"]["attachmentId"] for p in _parts(full["payload"])
           if "attachmentId" in p.get("body", {})]
    assert sorted(ids) == sorted(stored.parsed.attachments)
