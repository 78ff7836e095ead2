"""Fixtures shared by every test that needs Google (OAuth, sync, push, the mail API): the local
Google emulator over real HTTP, an app configured to use it, and a scripted person who
clicks through the gateway's consent page and then Google's.

Nothing leaves 127.0.0.1: the gateway talks to the emulator with google-auth-oauthlib and
google-auth exactly as it would to Google; the person's browser is the TestClient (for the
gateway) plus the emulator's own form filler (for Google's page).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from emulator.testing import RunningEmulator, run_emulator
from gateway.app import create_app
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.runtime import runtime_of
from gateway.settings import Environment, Settings
from tests.support.world import TEST_PEPPER, TenantWorld

CLIENT_ID = "gateway-test.apps.googleusercontent.com"
CLIENT_SECRET = "gateway-test-client-password"  # a test client registered with the emulator
PUBLIC_BASE = "http://testserver"
REDIRECT_URI = PUBLIC_BASE + "/oauth/callback"
RETURN_URL = "https://crm.example.test/settings/gmail"
PRIVACY_URL = "https://crm.example.test/privacy"
GOOGLE_ALICE = "alice@example.com"
GOOGLE_BOB = "bob@example.com"

@pytest.fixture(scope="session")
def emu() -> Iterator[RunningEmulator]:
    with run_emulator() as running:
        yield running


@pytest.fixture(scope="session")
def oauth_settings(settings: Settings, emu: RunningEmulator) -> Settings:
    # The same database, key file and pepper as the suite's app; Google is the emulator.
    return Settings(
        environment=Environment.test, database_url=settings.database_url,
        data_dir=settings.data_dir, key_file=settings.key_file,
        policy_engine_url=settings.policy_engine_url, policy_dir=settings.policy_dir,
        api_key_pepper=SecretStr(TEST_PEPPER), emulator_url=emu.base_url,
        google_client_id=CLIENT_ID, google_client_secret=SecretStr(CLIENT_SECRET),
        public_base_url=PUBLIC_BASE, crm_redirect_allowlist=["https://crm.example.test/"],
        privacy_policy_url=PRIVACY_URL)


@pytest.fixture(scope="session")
def oauth_app(oauth_settings: Settings) -> FastAPI:
    return create_app(oauth_settings)


@pytest.fixture(scope="session")
def oauth_session_client(oauth_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(oauth_app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


@pytest.fixture
def gw(oauth_session_client: TestClient, db: Database, emu: RunningEmulator,
       monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """The gateway on the emulator, with a fresh emulator and an empty database."""
    # The gateway must cope with oauthlib's "scope has changed" on its own (granular consent),
    # whatever another test module set in the environment.
    monkeypatch.delenv("OAUTHLIB_RELAX_TOKEN_SCOPE", raising=False)
    emu.control.reset()
    emu.control.register_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI], name="Acme CRM")
    emu.control.add_user(GOOGLE_ALICE, "Alice Example")
    emu.control.add_user(GOOGLE_BOB, "Bob Example")
    return oauth_session_client


@pytest.fixture
def crypto(oauth_app: FastAPI, gw: TestClient) -> CryptoService:
    service: CryptoService = runtime_of(oauth_app).crypto
    return service


class LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("id"):
            self.links[a["id"]] = a.get("href", "")


def page_links(html: str) -> dict[str, str]:
    parser = LinkParser()
    parser.feed(html)
    return parser.links


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


@dataclass
class ConnectResult:
    location: str
    outcome: dict[str, str]
    callback_url: str
    consent_url: str

    @property
    def mailbox_id(self) -> uuid.UUID:
        return uuid.UUID(self.outcome["mailbox_id"])


def start_connect(gw: TestClient, world: TenantWorld, features: list[str], *,
                  as_crm: bool = True, return_url: str = RETURN_URL) -> str:
    actor = world.crm if as_crm else world.end_user
    body: dict[str, Any] = {"features": features, "return_url": return_url}
    if as_crm:
        body["end_user_id"] = world.end_user.id
    response = gw.post("/v1/connect", json=body, headers=actor.headers())
    assert response.status_code == 201, response.text
    return str(response.json()["consent_url"])


def google_url_from_page(gw: TestClient, consent_url: str) -> str:
    page = gw.get(consent_url, headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text
    return page_links(page.text)["continue"]


def consent_at_google(gw: TestClient, emu: RunningEmulator, consent_url: str, *,
                      email: str = GOOGLE_ALICE, untick: tuple[str, ...] = (),
                      deny: bool = False) -> str:
    """The person reads the gateway's page, presses Continue, then fills Google's form."""
    return emu.consent(google_url_from_page(gw, consent_url), email=email, untick=list(untick),
                       deny=deny)


def follow_callback(gw: TestClient, callback_url: str) -> Any:
    assert callback_url.startswith(REDIRECT_URI), callback_url
    return gw.get(path_and_query(callback_url))


def connect(gw: TestClient, emu: RunningEmulator, world: TenantWorld,
            features: list[str] | None = None, *, email: str = GOOGLE_ALICE,
            untick: tuple[str, ...] = (), consent_url: str | None = None) -> ConnectResult:
    """The whole round trip; returns where the browser lands back in the CRM."""
    consent_url = consent_url or start_connect(gw, world, features or ["read", "send"])
    callback_url = consent_at_google(gw, emu, consent_url, email=email, untick=untick)
    response = follow_callback(gw, callback_url)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    return ConnectResult(location=location, outcome=query(location), callback_url=callback_url,
                         consent_url=consent_url)


def refresh_tokens_of(emu: RunningEmulator, email: str) -> list[str]:
    return [t.token for t in emu.state.refresh_tokens.values() if t.email == email]


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
