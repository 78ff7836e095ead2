"""Per-user quota like Gmail's: units per method over a moving window, and a cap on
concurrent requests per user. Both answer 429 ``rateLimitExceeded`` with Retry-After."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from .clock import Clock
from .config import Settings
from .errors import GoogleApiError


class QuotaMeter:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._inflight: dict[str, int] = {}
        self.rejections = 0

    def _window(self, user: str, now: float) -> deque[tuple[float, int]]:
        spent = self._spent.setdefault(user, deque())
        horizon = now - self.settings.quota_window_seconds
        while spent and spent[0][0] <= horizon:
            spent.popleft()
        return spent

    def used(self, user: str) -> int:
        with self._lock:
            return sum(c for _t, c in self._window(user, self.clock.now()))

    def charge(self, user: str, cost: int) -> None:
        """Spend ``cost`` units or raise 429 (spends nothing when refused)."""
        if not self.settings.quota_enabled:
            return
        now = self.clock.now()
        with self._lock:
            spent = self._window(user, now)
            total = sum(c for _t, c in spent)
            limit = self.settings.quota_units_per_minute
            if total + cost > limit:
                self.rejections += 1
                # Wait until enough old spending leaves the window.
                need, freed, wait = total + cost - limit, 0, self.settings.quota_window_seconds
                for t, c in spent:
                    freed += c
                    if freed >= need:
                        wait = t + self.settings.quota_window_seconds - now
                        break
                raise rate_limited(max(1, math.ceil(wait)), now, self.settings.quota_status)
            spent.append((now, cost))

    @contextmanager
    def concurrent(self, user: str) -> Iterator[None]:
        if not self.settings.quota_enabled:
            yield
            return
        with self._lock:
            current = self._inflight.get(user, 0)
            if current >= self.settings.concurrency_limit:
                self.rejections += 1
                raise GoogleApiError(
                    self.settings.quota_status, "Too many concurrent requests for user.",
                    reason="rateLimitExceeded", domain="usageLimits",
                    headers={"Retry-After": "1"},
                )
            self._inflight[user] = current + 1
        try:
            yield
        finally:
            with self._lock:
                self._inflight[user] -= 1

    def reset(self) -> None:
        with self._lock:
            self._spent.clear()
            self.rejections = 0


def rate_limited(retry_after: int, now: float, status: int = 429) -> GoogleApiError:
    when = datetime.fromtimestamp(now + retry_after, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    message = f"User-rate limit exceeded.  Retry after {when}Z"
    return GoogleApiError(status, message, reason="rateLimitExceeded", domain="usageLimits",
                          headers={"Retry-After": str(retry_after)})
