"""A per-user Gmail quota budget: Google's unit costs over a moving window, spent close to the
ceiling without crossing it.

Google allows 15,000 units per user per minute as a moving window. `MovingWindowBudget.spend`
blocks until spending `units` keeps the units charged in the last `window_seconds` at or under
`target` times the ceiling, then records them. Two margins keep the gateway's view ahead of
Google's: units are recorded when the call is *sent* (Google counts them when it *receives*
it, a little later), and the window is treated as `margin_seconds` longer than Google's, so a
unit leaves the gateway's window only after it has certainly left Google's. A 429 that slips
through anyway (spending by another process, a budget that started mid-window) is fed back with
`penalise`: nothing is spent until the Retry-After has passed.

One budget per mailbox per process; a mailbox is synced by one worker at a time (leases), so a
process-local budget is the whole picture for sync. Budgets are thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from gateway.gmail.costs import PER_USER_UNITS_PER_MINUTE


class MovingWindowBudget:
    def __init__(self, units_per_window: int = PER_USER_UNITS_PER_MINUTE, *,
                 window_seconds: float = 60.0, target: float = 0.97,
                 margin_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not 0 < target <= 1:
            raise ValueError("target must be in (0, 1]")
        self.capacity = max(1, int(units_per_window * target))
        self.window = window_seconds + margin_seconds
        self.units_per_window = units_per_window
        self.window_seconds = window_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._spent: deque[tuple[float, int]] = deque()
        self._in_window = 0
        self._blocked_until = 0.0
        self.total_spent = 0
        self.waited_seconds = 0.0
        self.first_spend_at: float | None = None
        self.last_spend_at: float | None = None

    def _prune(self, now: float) -> None:
        horizon = now - self.window
        while self._spent and self._spent[0][0] <= horizon:
            self._in_window -= self._spent.popleft()[1]

    def _wait_for(self, units: int, now: float) -> float:
        """Seconds until `units` fit (0 when they fit now). Called with the lock held."""
        if now < self._blocked_until:
            return self._blocked_until - now
        self._prune(now)
        # A single call costlier than the whole capacity waits for an empty window.
        need = self._in_window + min(units, self.capacity) - self.capacity
        if need <= 0:
            return 0.0
        freed = 0
        for at, cost in self._spent:
            freed += cost
            if freed >= need:
                return max(at + self.window - now, 0.001)
        return self.window

    def spend(self, units: int) -> None:
        """Block until `units` fit in the window, then charge them."""
        if units <= 0:
            return
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_for(units, now)
                if wait <= 0:
                    self._spent.append((now, units))
                    self._in_window += units
                    self.total_spent += units
                    if self.first_spend_at is None:
                        self.first_spend_at = now
                    self.last_spend_at = now
                    return
            self.waited_seconds += wait
            self._sleep(wait)

    def penalise(self, retry_after: float) -> None:
        """Google said 429: spend nothing for `retry_after` seconds."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + max(retry_after, 0.0))

    def in_window(self) -> int:
        with self._lock:
            self._prune(self._clock())
            return self._in_window


class BudgetRegistry:
    """One budget per mailbox in this process, created on first use with the same settings."""

    def __init__(self, factory: Callable[[], MovingWindowBudget]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._budgets: dict[str, MovingWindowBudget] = {}

    def for_mailbox(self, mailbox_id: object) -> MovingWindowBudget:
        key = str(mailbox_id)
        with self._lock:
            budget = self._budgets.get(key)
            if budget is None:
                budget = self._budgets[key] = self._factory()
            return budget
