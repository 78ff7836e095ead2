"""Gmail push through an emulated Pub/Sub push subscription.

Mailbox changes on a watched mailbox mark the user pending; a background thread delivers at
most one notification per user per ``push_min_interval`` (changes in between coalesce into
one carrying the latest historyId), POSTing Pub/Sub's push envelope with an OIDC JWT in
``Authorization: Bearer`` signed by the emulator's key. Failed deliveries are retried with
backoff; fault injection can drop notifications."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

import httpx

from .mailbox import Mailbox
from .state import EmulatorState
from .tokens import ISSUER

MAX_ATTEMPTS = 5


class PushNotifier:
    def __init__(self, state: EmulatorState, http: httpx.Client | None = None) -> None:
        self.state = state
        self._http = http or httpx.Client(timeout=10.0)
        self._cond = threading.Condition()
        self._pending: dict[str, int] = {}  # email -> attempts so far
        self._not_before: dict[str, float] = {}
        self._last_sent: dict[str, float] = {}
        self._seq = 0
        self.log: deque[dict[str, Any]] = deque(maxlen=1000)
        self._thread: threading.Thread | None = None
        self._stop = False
        state.change_listeners.append(self.on_change)

    # ---- change intake (called under the mailbox lock) -----------------------------------
    def on_change(self, mailbox: Mailbox, label_ids: set[str]) -> None:
        watch = mailbox.watch
        if watch is None or watch.expiration_ms <= self.state.clock.now_ms():
            return
        if watch.label_ids:
            wanted = set(watch.label_ids)
            hit = bool(label_ids & wanted) if watch.behavior == "include" else bool(
                label_ids - wanted)
            if not hit:
                return
        with self._cond:
            self._pending.setdefault(mailbox.email, 0)
            self._cond.notify()

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="gmail-push", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def clear(self) -> None:
        """Forget pending and retrying notifications and the log (control API reset)."""
        with self._cond:
            self._pending.clear()
            self._not_before.clear()
            self._last_sent.clear()
            self.log.clear()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until nothing is pending (for tests). True if drained."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                if not self._pending:
                    return True
            time.sleep(0.02)
        return False

    # ---- delivery ------------------------------------------------------------------------
    def _due(self) -> tuple[list[tuple[str, int]], float]:
        now = time.monotonic()
        due: list[tuple[str, int]] = []
        wait = 1.0
        interval = self.state.settings.push_min_interval
        for email, attempts in list(self._pending.items()):
            ready_at = max(self._last_sent.get(email, 0.0) + interval,
                           self._not_before.get(email, 0.0))
            if ready_at <= now:
                due.append((email, attempts))
                del self._pending[email]
            else:
                wait = min(wait, ready_at - now)
        return due, wait

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stop:
                    return
                due, wait = self._due()
                if not due:
                    self._cond.wait(timeout=wait)
                    continue
            for email, attempts in due:
                self._deliver(email, attempts)

    def _token(self, audience: str) -> str:
        now = int(time.time())
        account = self.state.settings.push_service_account
        sub = str(100000000000000000000 + sum(account.encode()))
        return self.state.key.sign_jwt({
            "aud": audience, "azp": sub, "email": account, "email_verified": True,
            "exp": now + 3600, "iat": now, "iss": ISSUER, "sub": sub,
        })

    def envelope(self, email: str, history_id: int) -> dict[str, Any]:
        self._seq += 1
        data = json.dumps({"emailAddress": email, "historyId": history_id}).encode()
        published = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        message_id = str(1_000_000_000_000 + self._seq)
        return {
            "message": {
                "data": base64.b64encode(data).decode(),
                "messageId": message_id, "message_id": message_id,
                "publishTime": published, "publish_time": published,
            },
            "subscription": self.state.settings.push_subscription,
        }

    def _deliver(self, email: str, attempts: int) -> None:
        user = self.state.user(email)
        if user is None:
            return
        with user.mailbox.lock:
            history_id = user.mailbox.history.current
            watch = user.mailbox.watch
        settings = self.state.settings
        entry: dict[str, Any] = {"email": email, "historyId": history_id,
                                 "time": time.time(), "attempt": attempts + 1,
                                 "topic": watch.topic if watch else None}
        self._last_sent[email] = time.monotonic()
        faults = self.state.faults
        if faults.drop_push_rate and self.state.rng.random() < faults.drop_push_rate:
            self.log.append(entry | {"outcome": "dropped"})
            return
        if not settings.push_url:
            self.log.append(entry | {"outcome": "no_endpoint"})
            return
        body = self.envelope(email, history_id)
        entry["messageId"] = body["message"]["messageId"]
        token = self._token(settings.push_audience or settings.push_url)
        try:
            resp = self._http.post(settings.push_url, json=body,
                                   headers={"Authorization": f"Bearer {token}"})
            status: int | None = resp.status_code
            ok = 200 <= resp.status_code < 300 or resp.status_code == 102
            error = None
        except httpx.HTTPError as exc:
            status, ok, error = None, False, type(exc).__name__
        self.log.append(entry | {"outcome": "delivered" if ok else "failed", "status": status,
                                 "error": error})
        if not ok and attempts + 1 < MAX_ATTEMPTS:
            with self._cond:
                self._pending.setdefault(email, attempts + 1)
                self._not_before[email] = time.monotonic() + min(10.0, 0.5 * 2 ** attempts)
                self._cond.notify()

    def close(self) -> None:
        self.stop()
        self._http.close()
