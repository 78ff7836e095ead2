"""Retrying Gmail calls that may succeed later: 429 and 403 rate limits, 5xx, 408 and network
timeouts. Exponential backoff with jitter, never shorter than Google's Retry-After.

The delay before retry n (0-based) is drawn uniformly from [d/2, d] with d = min(cap,
base * 2^n) ("equal jitter": spreads retries of many workers while still growing), and raised to
Retry-After when Google sent one. Other errors (404, 400, auth) are not retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.gmail.errors import GmailError

T = TypeVar("T")
RetryHook = Callable[[GmailError, float, int], None]  # (error, delay seconds, attempt number)


def is_retryable(exc: GmailError) -> bool:
    return exc.retryable or exc.code == "gmail_unreachable"


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 32.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** attempt))
        jittered = self.rng.uniform(ceiling / 2, ceiling)
        return max(jittered, retry_after or 0.0)

    def run(self, call: Callable[[], T], *, on_retry: RetryHook | None = None) -> T:
        """`call()` until it succeeds, fails for good, or `max_attempts` are used up (the last
        error is raised)."""
        attempt = 0
        while True:
            try:
                return call()
            except GmailError as exc:
                attempt += 1
                if not is_retryable(exc) or attempt >= self.max_attempts:
                    raise
                wait = self.delay(attempt - 1, exc.retry_after)
                if on_retry is not None:
                    on_retry(exc, wait, attempt)
                self.sleep(wait)

