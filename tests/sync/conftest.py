"""Sync fixtures: a mailbox connected through the real OAuth round trip on the emulator, and
the sync services built from the running app (real PostgreSQL, real OPA, real crypto)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from emulator.testing import RunningEmulator
from gateway.kit.db import Database
from gateway.mail.models import Message
from gateway.mail.store.repository import MessageStore
from gateway.runtime import runtime_of
from gateway.settings import Settings
from gateway.sync.models import MailboxSync
from gateway.sync.steps import SyncServices
from gateway.sync.worker import SyncWorker, build_services
from tests.google_world import GOOGLE_ALICE, connect
from tests.support.world import TenantWorld


@pytest.fixture
def sync_settings(oauth_settings: Settings) -> Settings:
    return oauth_settings.model_copy(update={
        "sync_lease_seconds": 3.0, "sync_idle_sleep_seconds": 0.2,
        "sync_retry_base_seconds": 0.05, "sync_retry_cap_seconds": 0.5,
        "sync_backoff_base_seconds": 0.2, "sync_backoff_max_seconds": 1.0})


@pytest.fixture
def services(oauth_app: FastAPI, gw: TestClient, sync_settings: Settings) -> SyncServices:
    state = runtime_of(oauth_app)
    return build_services(sync_settings, state.database, state.crypto, state.enforcer,
                          state.service(MessageStore))


@pytest.fixture
def worker(services: SyncServices) -> SyncWorker:
    return SyncWorker(services, owner="test-worker")


def connect_seeded(gw: TestClient, emu: RunningEmulator, world: TenantWorld, count: int,
                   *, seed: int = 7) -> uuid.UUID:
    emu.control.seed(GOOGLE_ALICE, generate=count, seed=seed)
    return connect(gw, emu, world, ["read"]).mailbox_id


def sync_state(db: Database, mailbox_id: uuid.UUID) -> MailboxSync:
    with db.transaction() as session:
        row = session.get(MailboxSync, mailbox_id)
        assert row is not None
        session.expunge(row)
        return row


def stored(db: Database, mailbox_id: uuid.UUID) -> dict[str, tuple[str, list[str]]]:
    """gmail id → (thread id, sorted label ids) of every stored message."""
    with db.transaction() as session:
        rows = session.execute(select(Message.gmail_id, Message.thread_id, Message.label_ids)
                               .where(Message.mailbox_id == mailbox_id))
        return {gid: (tid, sorted(labels)) for gid, tid, labels in rows}


def in_gmail(emu: RunningEmulator, email: str = GOOGLE_ALICE) -> dict[str, tuple[str, list[str]]]:
    return {m["id"]: (m["threadId"], sorted(m.get("labelIds", [])))
            for m in emu.control.messages(email)}


def api_list_all(gw: TestClient, headers: dict[str, str], mailbox_id: uuid.UUID
                 ) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        response = gw.get(f"/v1/mailboxes/{mailbox_id}/messages", params=params,
                          headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def gmail_history_id(emu: RunningEmulator, email: str = GOOGLE_ALICE) -> int:
    return int(emu.control.mailbox(email)["profile"]["historyId"])
