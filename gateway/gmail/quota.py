"""A per-user Gmail quota budget: Google's unit costs over a moving window, spent close to the
ceiling without crossing it.

Google allows 15,000 units per user per minute as a moving window. `MovingWindowBudget.spend`
blocks until spending `units` keeps the units charged in the last `window_seconds` at or under
`target` times the ceiling, then records them and returns the `Charge`. The gateway's view
stays ahead of Google's without a time margin: Google counts a call's units when it *receives*
it, somewhere between the moment the gateway sends it and the moment the answer is back (a
batch's 50 parts are received one after another while Google works through them). So units are
recorded when the call is sent (they count at once) and, when the call has ended, `settle`
re-stamps them with the end time: they leave the gateway's window `window_seconds` after the
answer, never before they have left Google's. Until it is settled a charge frees nothing (a
charge never settled is dropped `hold_seconds` after its window, so a lost one cannot shrink
the budget for good). `margin_seconds` (default 0.1 s) only covers timer granularity. A 429
that slips through anyway (spending by another process, a budget that started mid-window) is
fed back with `penalise`: nothing is spent until the Retry-After has passed.

The `target` (97%) is headroom for the user's other Gmail calls (the API's writes in other
processes spend the same user's quota, unseen by this budget), not a timing margin.

One budget per mailbox per process; a mailbox is synced by one worker at a time (leases), so a
process-local budget is the whole picture for sync. Budgets are thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from gateway.gmail.costs import PER_USER_UNITS_PER_MINUTE


class Charge:
    """Units recorded in a budget's window at `at` (the send; the end once settled)."""

    __slots__ = ("at", "settled", "units")

    def __init__(self, at: float, units: int) -> None:
        self.at = at
        self.units = units
        self.settled = False


OPEN_POLL_SECONDS = 0.05  # how often a spend waiting only on unsettled charges looks again


class MovingWindowBudget:
    def __init__(self, units_per_window: int = PER_USER_UNITS_PER_MINUTE, *,
                 window_seconds: float = 60.0, target: float = 0.97,
                 margin_seconds: float = 0.1, hold_seconds: float = 120.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not 0 < target <= 1:
            raise ValueError("target must be in (0, 1]")
        self.capacity = max(1, int(units_per_window * target))
        self.window = window_seconds + margin_seconds
        self.hold = hold_seconds
        self.units_per_window = units_per_window
        self.window_seconds = window_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._spent: deque[Charge] = deque()  # by `at`: a settle re-stamps with "now"
        self._in_window = 0
        self._blocked_until = 0.0
        self.total_spent = 0
        self.waited_seconds = 0.0
        self.first_spend_at: float | None = None
        self.last_spend_at: float | None = None

    def _prune(self, now: float) -> None:
        horizon = now - self.window
        while self._spent and self._spent[0].at <= horizon:
            head = self._spent[0]
            if not head.settled and head.at > horizon - self.hold:
                break  # still in flight (or its end not reported yet): it keeps counting
            self._in_window -= self._spent.popleft().units

    def _wait_for(self, units: int, now: float) -> float:
        """Seconds until `units` fit (0 when they fit now). Called with the lock held."""
        if now < self._blocked_until:
            return self._blocked_until - now
        self._prune(now)
        # A single call costlier than the whole capacity waits for an empty window.
        need = self._in_window + min(units, self.capacity) - self.capacity
        if need <= 0:
            return 0.0
        freed, in_flight = 0, False
        for charge in self._spent:
            if not charge.settled:
                in_flight = True  # frees only after its end, later than any settled charge
                continue
            freed += charge.units
            if freed >= need:
                return max(charge.at + self.window - now, 0.001)
        # Only an in-flight call's units would make room: look again once it may have ended.
        return OPEN_POLL_SECONDS if in_flight else self.window

    def spend(self, units: int) -> Charge | None:
        """Block until `units` fit in the window, then charge them (`None` for 0 units)."""
        if units <= 0:
            return None
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_for(units, now)
                if wait <= 0:
                    charge = Charge(now, units)
                    self._spent.append(charge)
                    self._in_window += units
                    self.total_spent += units
                    if self.first_spend_at is None:
                        self.first_spend_at = now
                    self.last_spend_at = now
                    return charge
            self.waited_seconds += wait
            self._sleep(wait)

    def settle(self, charge: Charge) -> None:
        """The call `charge` paid for has ended (answered or failed): from now on its units
        leave the window `window_seconds` later."""
        with self._lock:
            if charge.settled:
                return
            charge.settled = True
            try:
                self._spent.remove(charge)
            except ValueError:
                return  # dropped after `hold_seconds`: already out of the window
            charge.at = max(self._clock(), self._spent[-1].at if self._spent else 0.0)
            self._spent.append(charge)

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
