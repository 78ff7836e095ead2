"""A small Python client for the emulator's control API (``/_emulator/...``).

    ctl = EmulatorControl("http://127.0.0.1:8765")
    ctl.add_user("alice@example.com")
    ctl.seed("alice@example.com", generate=200, seed=7)
    tokens = ctl.mint_tokens("alice@example.com", [GMAIL_READONLY])
    ctl.set_faults(error_rate=0.1)
"""

from __future__ import annotations

import base64
from typing import Any

import httpx


class EmulatorControl:
    def __init__(self, base_url: str, *, client: httpx.Client | None = None,
                 timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None,
              params: dict[str, Any] | None = None) -> Any:
        resp = self._client.request(method, f"{self.base_url}/_emulator{path}", json=json,
                                    params=params)
        resp.raise_for_status()
        return resp.json()

    # ---- general -------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def reset(self) -> None:
        """Forget users, mailboxes, tokens, grants, clients (the default client returns)
        and faults."""
        self._call("POST", "/reset")

    # ---- users and mail ------------------------------------------------------------------
    def users(self) -> list[dict[str, Any]]:
        return self._call("GET", "/users")

    def add_user(self, email: str, name: str | None = None) -> dict[str, Any]:
        return self._call("POST", "/users", {"email": email, "name": name})

    def seed(self, email: str, *, generate: int = 0, seed: int = 1, days: int = 90,
             eml: list[bytes] | None = None, mbox: bytes | None = None,
             label_ids: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"generate": generate, "seed": seed, "days": days}
        if eml:
            body["eml"] = [base64.urlsafe_b64encode(raw).decode() for raw in eml]
        if mbox:
            body["mbox"] = base64.urlsafe_b64encode(mbox).decode()
        if label_ids is not None:
            body["labelIds"] = label_ids
        return self._call("POST", f"/users/{email}/seed", body)

    def deliver(self, email: str, raw: bytes, label_ids: list[str] | None = None,
                thread_id: str | None = None) -> dict[str, Any]:
        """Simulate a message arriving in the mailbox (INBOX+UNREAD by default)."""
        body: dict[str, Any] = {"raw": base64.urlsafe_b64encode(raw).decode()}
        if label_ids is not None:
            body["labelIds"] = label_ids
        if thread_id:
            body["threadId"] = thread_id
        return self._call("POST", f"/users/{email}/messages", body)

    def mailbox(self, email: str) -> dict[str, Any]:
        return self._call("GET", f"/users/{email}/mailbox")

    def messages(self, email: str, format: str = "minimal") -> list[dict[str, Any]]:
        return self._call("GET", f"/users/{email}/messages", params={"format": format})

    def expire_history(self, email: str) -> dict[str, Any]:
        """Forget the mailbox's history: older startHistoryIds now answer 404."""
        return self._call("POST", f"/users/{email}/expire-history")

    # ---- OAuth -------------------------------------------------------------------------------
    def register_client(self, client_id: str, client_secret: str, redirect_uris: list[str],
                        *, testing: bool = False, name: str = "Emulated app") -> dict[str, Any]:
        return self._call("POST", "/clients", {
            "client_id": client_id, "client_secret": client_secret,
            "redirect_uris": redirect_uris, "testing": testing, "name": name})

    def clients(self) -> list[dict[str, Any]]:
        return self._call("GET", "/clients")

    def grants(self) -> list[dict[str, Any]]:
        return self._call("GET", "/grants")

    def mint_tokens(self, email: str, scopes: list[str], *, client_id: str | None = None,
                    offline: bool = True) -> dict[str, Any]:
        """Tokens as the token endpoint would return them, without the consent page."""
        return self._call("POST", "/tokens", {"email": email, "scopes": scopes,
                                              "client_id": client_id, "offline": offline})

    def revoke_user(self, email: str, client_id: str | None = None) -> int:
        """The user removes the app's access (all clients if none given)."""
        return int(self._call("POST", f"/users/{email}/revoke",
                              {"client_id": client_id})["revoked"])

    def password_change(self, email: str) -> int:
        """Refresh tokens carrying Gmail scopes die, as at Google."""
        return int(self._call("POST", f"/users/{email}/password-change")["revoked"])

    def expire_refresh_tokens(self, email: str) -> int:
        return int(self._call("POST", f"/users/{email}/expire-refresh-tokens")["expired"])

    # ---- faults, settings, clock, quota, push ----------------------------------------------
    def faults(self) -> dict[str, Any]:
        return self._call("GET", "/faults")

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """latency_ms, latency_jitter_ms, error_rate, error_status, drop_push_rate,
        fail_next=[{"method": "gmail.users.messages.get", "status": 500, "count": 1}], seed."""
        return self._call("PATCH", "/faults", faults)

    def clear_faults(self) -> dict[str, Any]:
        return self.set_faults(latency_ms=0, latency_jitter_ms=0, error_rate=0.0,
                               drop_push_rate=0.0, fail_next=[])

    def settings(self) -> dict[str, Any]:
        return self._call("GET", "/settings")

    def set_settings(self, **values: Any) -> dict[str, Any]:
        """Any field of emulator.config.Settings, e.g. quota_enabled=False,
        quota_units_per_minute=100, history_retention_seconds=60, push_url=..."""
        return self._call("PATCH", "/settings", values)

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return self._call("POST", "/clock/advance", {"seconds": seconds})

    def quota(self, email: str) -> dict[str, Any]:
        return self._call("GET", f"/quota/{email}")

    def reset_quota(self) -> None:
        self._call("POST", "/quota/reset")

    def push_log(self) -> list[dict[str, Any]]:
        return self._call("GET", "/push")

    def flush_push(self, timeout: float = 5.0) -> bool:
        return bool(self._call("POST", "/push/flush", {"timeout": timeout})["drained"])

    def keys(self) -> dict[str, Any]:
        return self._call("GET", "/keys")
