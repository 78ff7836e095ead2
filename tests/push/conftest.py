"""Push fixtures: the gateway served over real HTTP (uvicorn, 127.0.0.1) so the emulator's
Pub/Sub stand-in delivers its signed pushes to it exactly as Pub/Sub would, a connected and
watched mailbox, and helpers to mint push tokens with the emulator's real key (or forge them).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from emulator.testing import RunningEmulator, _free_socket
from gateway.app import create_app
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import MailboxState
from gateway.push.watches import WatchKeeper
from gateway.runtime import runtime_of
from gateway.settings import Settings
from tests.google_world import GOOGLE_ALICE, connect
from tests.support.world import TenantWorld

PUSH_PATH = "/v1/push/gmail"


@dataclass
class ServedGateway:
    """A second instance of the gateway (same database, keys and OPA as `gw`), on a socket."""

    app: FastAPI
    base_url: str
    settings: Settings

    @property
    def push_url(self) -> str:
        return self.base_url + PUSH_PATH


@pytest.fixture(scope="session")
def served_gateway(oauth_settings: Settings) -> Iterator[ServedGateway]:
    app = create_app(oauth_settings)
    sock = _free_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="gateway-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.01)
    try:
        yield ServedGateway(app, f"http://127.0.0.1:{sock.getsockname()[1]}", oauth_settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def pushing(emu: RunningEmulator, gw: TestClient, served_gateway: ServedGateway
            ) -> Iterator[ServedGateway]:
    """The emulator pushes to the served gateway, with the audience the gateway expects."""
    emu.control.set_settings(push_url=served_gateway.push_url,
                             push_audience=served_gateway.settings.push_expected_audience,
                             push_min_interval=0.2)
    yield served_gateway
    emu.control.flush_push(timeout=5)
    emu.control.set_settings(push_url=None, push_audience=None, push_min_interval=1.0)


def keeper_for(app: FastAPI) -> WatchKeeper:
    state = runtime_of(app)
    return WatchKeeper(state.database, state.crypto, state.settings, state.enforcer)


@dataclass
class Watched:
    mailbox_id: uuid.UUID
    email: str
    world: TenantWorld


@pytest.fixture
def connect_and_watch(gw: TestClient, emu: RunningEmulator, oauth_app: FastAPI, db: Database
                      ) -> Callable[..., Watched]:
    """Connect a Gmail account through real consent, create its watch, and clear the
    sync request the connection made (as if the initial sync had claimed it)."""

    def run(world: TenantWorld, email: str = GOOGLE_ALICE) -> Watched:
        # The world's placeholder mailbox has no token: it is what the gateway would mark it
        # on first use, so it stays out of watch renewals and syncs.
        with db.transaction() as session:
            session.execute(update(Mailbox).where(Mailbox.id == world.mailbox.id).values(
                state=MailboxState.reauth_required.value, state_reason="no_usable_token"))
        result = connect(gw, emu, world, ["read"], email=email)
        assert result.outcome["status"] == "connected", result.outcome
        report = keeper_for(oauth_app).renew_mailbox(result.mailbox_id)
        assert report.renewed == 1, report.as_dict()
        clear_sync_request(db, result.mailbox_id)
        return Watched(result.mailbox_id, email, world)

    return run


def clear_sync_request(db: Database, mailbox_id: uuid.UUID) -> None:
    with db.transaction() as session:
        session.execute(update(Mailbox).where(Mailbox.id == mailbox_id)
                        .values(sync_requested_at=None))


def sync_requested_at(db: Database, mailbox_id: uuid.UUID) -> Any:
    with db.transaction() as session:
        mailbox = session.get(Mailbox, mailbox_id)
        assert mailbox is not None
        return mailbox.sync_requested_at


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def envelope(email: str, history_id: int = 1234, **message: Any) -> dict[str, Any]:
    data = base64.b64encode(json.dumps({"emailAddress": email,
                                        "historyId": history_id}).encode()).decode()
    return {"message": {"data": data, "messageId": "9000000000001",
                        "publishTime": "2026-11-22T10:00:00.000Z", **message},
            "subscription": "projects/emulator-project/subscriptions/gmail-push"}


def push_claims(settings: Settings, **override: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": settings.push_expected_audience, "azp": "1000000000000000000042",
        "email": settings.push_service_account, "email_verified": True,
        "exp": now + 3600, "iat": now, "iss": "https://accounts.google.com",
        "sub": "1000000000000000000042"}
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}
