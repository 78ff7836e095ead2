"""A bounded, short-lived, thread-safe LRU for unwrapped data keys.

Unwrapping costs a provider round trip (a KMS call, or two AES-GCM opens for the local file), so
the hot read path looks keys up here. Entries expire after `ttl_seconds` so a key destroyed by
another replica stops working here within that window, and the size bound keeps the number of
plaintext keys in memory small.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class KeyCache(Generic[V]):
    def __init__(
        self,
        max_entries: int = 10_000,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 0 or ttl_seconds < 0:
            raise ValueError("cache bounds must be non-negative")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            item = self._entries.get(key)
            if item is None:
                return None
            expires, value = item
            if expires <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        if self.max_entries == 0 or self.ttl_seconds == 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + self.ttl_seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard_prefix(self, *prefix: Hashable) -> int:
        """Drop every entry whose tuple key starts with `prefix` (e.g. tenant, mailbox)."""
        n = len(prefix)
        with self._lock:
            doomed = [k for k in self._entries
                      if isinstance(k, tuple) and k[:n] == prefix]
            for k in doomed:
                del self._entries[k]
            return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
