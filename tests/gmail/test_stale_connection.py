"""A batch sent on a kept-alive connection that the server closed while it was idle is sent
again once on a fresh connection (and counted as a retry of kind `stale_connection`); a failure
on a fresh connection is an error at once. Against an emulator with a short keep-alive, waiting
for the server's close itself (no sleeps)."""

from __future__ import annotations

import select
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from google.oauth2.credentials import Credentials

from emulator.testing import RunningEmulator, run_emulator
from gateway.gmail.client import GmailClient, build_client
from gateway.gmail.errors import GmailError, GmailUnreachable, describe, error_kind
from gateway.gmail.retry import RetryPolicy
from gateway.settings import Settings
from gateway.sync import gmail_ops

SCOPE = "https://www.googleapis.com/auth/gmail.readonly"


@pytest.fixture(scope="module")
def short_keep_alive() -> Iterator[RunningEmulator]:
    with run_emulator(keep_alive=0.2) as emu:
        yield emu


@pytest.fixture
def client(short_keep_alive: RunningEmulator, oauth_settings: Settings) -> GmailClient:
    emu = short_keep_alive
    email = f"stale-{uuid.uuid4().hex[:8]}@example.com"
    emu.control.seed(email, generate=30, seed=5)
    token = emu.control.mint_tokens(email, [SCOPE])
    settings = oauth_settings.model_copy(update={"gmail_api_endpoint": emu.base_url})
    client = build_client(Credentials(token["access_token"]),  # type: ignore[no-untyped-call]
                          settings)
    client.email = email  # type: ignore[attr-defined]
    return client


def pooled_socket(client: GmailClient) -> socket.socket:
    (conn,) = client.http().http.connections.values()
    sock: socket.socket = conn.sock
    assert sock is not None, "the batch connection was not kept alive"
    return sock


def wait_until_closed_by_server(sock: socket.socket) -> None:
    """Block until the peer's FIN arrives (a readable socket with nothing to read)."""
    deadline = time.monotonic() + 30  # a safety net only; nothing here is timed
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 1.0)
        if readable and sock.recv(1, socket.MSG_PEEK) == b"":
            return
    raise AssertionError("the emulator never closed the idle connection")


def ids_of(emu: RunningEmulator, client: GmailClient) -> list[str]:
    return [m["id"] for m in emu.control.messages(client.email)]  # type: ignore[attr-defined]


def test_a_batch_on_a_connection_closed_while_idle_is_sent_again_on_a_fresh_one(
        short_keep_alive: RunningEmulator, client: GmailClient) -> None:
    retried: list[GmailError] = []
    client.on_retry = lambda exc, delay, attempt: retried.append(exc)
    ids = ids_of(short_keep_alive, client)
    no_retry = RetryPolicy(max_attempts=1)  # only the stale-connection resend may happen
    assert len(gmail_ops.get_batch(client, ids, no_retry).messages) == len(ids)
    stale = pooled_socket(client)

    wait_until_closed_by_server(stale)
    fetched = gmail_ops.get_batch(client, ids, no_retry)

    assert set(fetched.messages) == set(ids)
    assert client.retries == 1
    assert [error_kind(exc) for exc in retried] == ["stale_connection"]
    assert pooled_socket(client) is not stale  # the resend went out on a new connection
    assert client.rate_limited == client.server_errors == 0


def test_a_fresh_connection_that_fails_is_an_error_naming_the_cause(
        client: GmailClient, oauth_settings: Settings) -> None:
    with socket.socket() as closed_port:  # a port nothing listens on
        closed_port.bind(("127.0.0.1", 0))
        port = closed_port.getsockname()[1]
    settings = oauth_settings.model_copy(
        update={"gmail_api_endpoint": f"http://127.0.0.1:{port}"})
    nowhere = build_client(client.credentials, settings)

    with pytest.raises(GmailUnreachable) as failed:
        gmail_ops.get_batch(nowhere, ["18c0000000000001"], RetryPolicy(max_attempts=1))

    assert nowhere.retries == 0
    assert failed.value.reason == "ConnectionRefusedError"
    assert describe(failed.value) == \
        "gmail_unreachable: no answer from Gmail (ConnectionRefusedError)"
