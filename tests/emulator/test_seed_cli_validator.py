"""Seeding (generator, .eml, mbox), the CLI parser and the schema validator itself."""

from __future__ import annotations

import mailbox as stdlib_mailbox
from pathlib import Path
from typing import Any

import pytest

from emulator import seed
from emulator.cli import build_parser
from emulator.render import message_resource
from emulator.state import EmulatorState
from emulator.testing import RunningEmulator

from .conftest import ALICE
from .discovery_schema import SchemaError, validate
from .samples import NESTED, simple


def test_generator_is_deterministic_and_realistic() -> None:
    boxes = []
    for _ in range(2):
        state = EmulatorState()
        box = state.add_user(ALICE).mailbox
        seed.generate(box, 300, seed=11)
        boxes.append(box)
    a, b = boxes
    raws_a = sorted(m.raw for m in a.messages.values())
    assert raws_a == sorted(m.raw for m in b.messages.values())
    messages = list(a.messages.values())
    senders = {m.head.header("From") for m in messages}
    assert len(senders) > 20
    assert len(a.threads) < len(messages)  # some replies joined threads
    with_att = [m for m in messages if m.parsed.attachments]
    assert with_att and len({len(m.raw) // 10_000 for m in with_att}) > 3
    assert any("UNREAD" in m.labels for m in messages)
    assert any(lid.startswith("Label_") for m in messages for lid in m.labels)
    for m in messages[:50]:
        validate(message_resource(m, "full"), "Message")


def test_eml_and_mbox_loading(tmp_path: Path) -> None:
    state = EmulatorState()
    box = state.add_user(ALICE).mailbox
    eml = tmp_path / "one.eml"
    eml.write_bytes(NESTED)
    assert seed.load_eml(box, [eml]) == 1
    mbox_path = tmp_path / "box.mbox"
    mbox = stdlib_mailbox.mbox(str(mbox_path))
    for i in range(3):
        mbox.add(simple(f"from mbox {i}"))
    mbox.flush()
    mbox.close()
    assert seed.load_mbox(box, mbox_path) == 3
    assert len(box.messages) == 4
    stored = next(m for m in box.messages.values()
                  if "attachment" in (m.head.header("Subject") or ""))
    assert stored.raw == NESTED
    assert stored.internal_date == 1704218400000  # from the Date header


def test_seed_through_control_api(emu: RunningEmulator, gmail: Any) -> None:
    result = emu.control.seed(ALICE, generate=20, seed=5, eml=[NESTED])
    assert result["added"] == 21
    listed = gmail.users().messages().list(userId="me", includeSpamTrash=True).execute()
    assert listed["resultSizeEstimate"] == 21
    info = emu.control.mailbox(ALICE)
    assert info["profile"]["messagesTotal"] == 21
    assert info["history"]["records"] >= 21


def test_cli_serves(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "serve", "--port", str(port), "--seed-generate",
         "10", "--user", ALICE, "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=Path(seed.__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/_emulator/health").json()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert health == {"ok": True, "users": 1}
        box = httpx.get(f"http://127.0.0.1:{port}/_emulator/users/{ALICE}/mailbox").json()
        assert box["profile"]["messagesTotal"] == 10
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_parser() -> None:
    args = build_parser().parse_args(["serve", "--port", "9999", "--seed-generate", "50",
                                      "--client", "cid:secret:http://localhost/cb"])
    assert args.port == 9999 and args.seed_generate == 50 and args.host == "127.0.0.1"


def test_validator_rejects_wrong_shapes() -> None:
    good = {"id": "1", "threadId": "1", "labelIds": ["INBOX"], "historyId": "5",
            "internalDate": "1700000000000", "sizeEstimate": 10, "snippet": "x",
            "payload": {"partId": "", "mimeType": "text/plain", "filename": "",
                        "headers": [{"name": "A", "value": "b"}],
                        "body": {"size": 1, "data": "eA=="}}}
    validate(good, "Message")
    for bad in (
        good | {"unknown": 1},
        good | {"historyId": 5},
        good | {"sizeEstimate": "10"},
        good | {"internalDate": "yesterday"},
        good | {"payload": {**good["payload"], "body": {"size": 1, "data": "a+b/"}}},
        good | {"labelIds": "INBOX"},
    ):
        with pytest.raises(SchemaError):
            validate(bad, "Message")
