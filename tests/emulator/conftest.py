"""Fixtures: one emulator per session (reset before every test) and the real Google client
libraries aimed at it. Nothing here reaches beyond 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.http import HttpRequest

from emulator import scopes as sc
from emulator.testing import RunningEmulator, run_emulator

from .discovery_schema import validate_response

ALICE = "alice@example.com"
BOB = "bob@example.com"
ALL_GMAIL = [sc.READONLY, sc.MODIFY, sc.SEND, sc.COMPOSE, sc.INSERT, sc.LABELS]

VALIDATED: list[str] = []


class ValidatingRequest(HttpRequest):
    """An HttpRequest that validates each JSON response against the discovery schema."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        original = self.postproc
        method_id = self.methodId

        def postproc(resp: Any, content: Any) -> Any:
            result = original(resp, content)
            if method_id:
                validate_response(method_id, result if result not in ("", b"") else None)
                VALIDATED.append(method_id)
            return result
        self.postproc = postproc


@pytest.fixture(scope="session")
def emu() -> Iterator[RunningEmulator]:
    with run_emulator() as running:
        yield running


@pytest.fixture(autouse=True)
def _oauthlib_local(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib refuses http:// token URLs and narrowed scopes unless told; the emulator is
    # local and granular consent narrows scopes on purpose.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")


@pytest.fixture(autouse=True)
def _fresh(emu: RunningEmulator) -> Iterator[None]:
    emu.control.reset()
    emu.control.reset_quota()
    emu.control.set_settings(quota_enabled=True, quota_units_per_minute=15_000,
                             concurrency_limit=10, history_retention_seconds=7 * 24 * 3600,
                             push_url=None, push_audience=None, push_min_interval=1.0)
    yield


def credentials(emu: RunningEmulator, email: str = ALICE, scopes: list[str] | None = None
                ) -> Credentials:
    tokens = emu.control.mint_tokens(email, scopes or ALL_GMAIL)
    client = emu.state.clients["emulator-client.apps.googleusercontent.com"]
    return Credentials(tokens["access_token"], refresh_token=tokens["refresh_token"],
                       token_uri=emu.token_uri, client_id=client.client_id,
                       client_secret=client.client_secret)


def gmail_service(emu: RunningEmulator, creds: Credentials) -> Any:
    from googleapiclient.discovery import build
    return build("gmail", "v1", credentials=creds, static_discovery=True, cache_discovery=False,
                 client_options={"api_endpoint": emu.base_url},
                 requestBuilder=ValidatingRequest)


@pytest.fixture
def alice(emu: RunningEmulator) -> Credentials:
    return credentials(emu)


@pytest.fixture
def gmail(emu: RunningEmulator, alice: Credentials) -> Any:
    return gmail_service(emu, alice)


def error_body(exc: Any) -> dict[str, Any]:
    return json.loads(exc.content)
