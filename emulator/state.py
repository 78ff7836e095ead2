"""All emulator state, in memory: settings, faults, clock, signing key, users and their
mailboxes, OAuth clients, grants and tokens, quota meters and the push queue hooks."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .config import Faults, Settings
from .keys import SigningKey
from .mailbox import Mailbox


@dataclass
class User:
    email: str
    name: str
    sub: str
    mailbox: Mailbox

    def resource(self) -> dict[str, Any]:
        return {"email": self.email, "name": self.name, "sub": self.sub}


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    testing: bool = False  # "testing" publishing status: refresh tokens live 7 days
    name: str = "Emulated app"

    def resource(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "redirect_uris": list(self.redirect_uris), "testing": self.testing,
                "name": self.name}


@dataclass
class Grant:
    """What a user granted a client (Google accumulates scopes across consents)."""

    email: str
    client_id: str
    scopes: list[str]


@dataclass
class RefreshToken:
    token: str
    email: str
    client_id: str
    scopes: list[str]
    issued: float
    last_used: float
    revoked: bool = False
    expires: float | None = None


@dataclass
class AccessToken:
    token: str
    email: str
    client_id: str
    scopes: list[str]
    expires: float
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class AuthCode:
    code: str
    email: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    offline: bool
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    expires: float
    used: bool = False


@dataclass
class PendingConsent:
    txn: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    offline: bool
    include_granted: bool
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    login_hint: str | None
    created: float
    prompt: str | None = None


DEFAULT_CLIENT = OAuthClient(
    client_id="emulator-client.apps.googleusercontent.com",
    client_secret="emulator-secret",
    redirect_uris=["http://127.0.0.1:8080/oauth/callback", "http://localhost:8080/oauth/callback"],
)


@dataclass
class EmulatorState:
    settings: Settings = field(default_factory=Settings)
    faults: Faults = field(default_factory=Faults)
    clock: Clock = field(default_factory=Clock)
    key: SigningKey = field(default_factory=SigningKey)
    users: dict[str, User] = field(default_factory=dict)
    clients: dict[str, OAuthClient] = field(default_factory=dict)
    grants: dict[tuple[str, str], Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    pending: dict[str, PendingConsent] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    change_listeners: list[Callable[[Mailbox, set[str]], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.clients:
            self.clients[DEFAULT_CLIENT.client_id] = OAuthClient(**DEFAULT_CLIENT.resource())
        self.rng = random.Random(self.faults.seed)

    # ---- users -----------------------------------------------------------------------------
    def add_user(self, email: str, name: str | None = None) -> User:
        key = email.lower()
        with self.lock:
            if key in self.users:
                return self.users[key]
            sub = str(int(hashlib.sha256(key.encode()).hexdigest()[:15], 16) + 10**20)
            mailbox = Mailbox(email=key, clock=self.clock,
                              inline_limit=self.settings.inline_limit,
                              listener=self._on_change)
            display = name or key.split("@")[0].replace(".", " ").title()
            user = User(email=key, name=display, sub=sub, mailbox=mailbox)
            self.users[key] = user
            return user

    def user(self, email: str) -> User | None:
        return self.users.get(email.lower())

    def _on_change(self, mailbox: Mailbox, label_ids: set[str]) -> None:
        for listener in list(self.change_listeners):
            listener(mailbox, label_ids)

    # ---- clients ---------------------------------------------------------------------------
    def register_client(self, client: OAuthClient) -> OAuthClient:
        with self.lock:
            self.clients[client.client_id] = client
            return client

    # ---- housekeeping ----------------------------------------------------------------------
    def expire_history(self) -> None:
        cutoff = self.clock.now() - self.settings.history_retention_seconds
        for user in list(self.users.values()):
            with user.mailbox.lock:
                user.mailbox.history.expire_before(cutoff)

    def reset(self) -> None:
        with self.lock:
            self.users.clear()
            self.grants.clear()
            self.refresh_tokens.clear()
            self.access_tokens.clear()
            self.codes.clear()
            self.pending.clear()
            self.clients.clear()
            self.clients[DEFAULT_CLIENT.client_id] = OAuthClient(**DEFAULT_CLIENT.resource())
            self.faults = Faults()
            self.rng = random.Random(0)
            self.clock.reset()
