"""Helpers for the write-side tests: a mailbox connected through the emulator's real consent,
what the emulator holds, and the operation log's entries."""

from __future__ import annotations

import base64
import email
import email.policy
import uuid
from email.message import EmailMessage
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from emulator.testing import RunningEmulator
from gateway.audit.models import AuditEntry
from gateway.kit.db import Database
from gateway.mail.models import Message
from tests.google_world import GOOGLE_ALICE, connect
from tests.support.world import TenantWorld

ALL_FEATURES = ["read", "send", "organise", "labels"]


def connected(gw: TestClient, emu: RunningEmulator, world: TenantWorld,
              features: list[str] | None = None, **kwargs: Any) -> str:
    result = connect(gw, emu, world, features or ALL_FEATURES, **kwargs)
    assert result.outcome["status"] == "connected", result.outcome
    return str(result.mailbox_id)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def emulator_messages(emu: RunningEmulator, address: str = GOOGLE_ALICE,
                      label: str | None = None) -> list[dict[str, Any]]:
    items = emu.control.messages(address, format="minimal")
    return [m for m in items if label is None or label in (m.get("labelIds") or [])]


def emulator_raw(emu: RunningEmulator, address: str, gmail_id: str) -> EmailMessage:
    for item in emu.control.messages(address, format="raw"):
        if item["id"] == gmail_id:
            raw = str(item["raw"])
            data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            parsed = email.message_from_bytes(data, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            return parsed
    raise AssertionError(f"{gmail_id} is not in {address}'s mailbox")


def deliver(emu: RunningEmulator, *, to: str = GOOGLE_ALICE,
            subject: str = "Quote request", sender: str = "carol@customer.example") -> str:
    """Mail arrives in the emulator; returns its Gmail id."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@customer.example>"
    msg.set_content("Could you send me a quote?")
    return str(emu.control.deliver(to, bytes(msg))["id"])


def stored(db: Database, mailbox_id: str, gmail_id: str) -> Message | None:
    with db.transaction() as s:
        return s.scalar(select(Message).where(Message.mailbox_id == uuid.UUID(mailbox_id),
                                              Message.gmail_id == gmail_id))


def log_entries(db: Database, operation: str) -> list[AuditEntry]:
    with db.transaction() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.operation == operation)))
