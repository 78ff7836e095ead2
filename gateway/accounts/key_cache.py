"""A short-lived, per-process cache of authenticated API keys, so that a CRM calling all day does
not pay a three-table lookup (key, principal, tenant) on every request.

What it caches: for a key hash that authenticated successfully, the `Caller` it resolved to, the
key's expiry and when `last_used_at` was last written. Failures (unknown, revoked, expired keys,
disabled principals) are never cached: they always go to the database, so a key created a moment
ago works at once and nothing is ever *refused* from the cache.

Staleness bound (the one semantic change): a key revoked, a principal disabled or its groups
changed by *another process* (the CLI, another worker) is still accepted as it was by this
process for at most `ttl` seconds after this process last read it from the database
(`GATEWAY_API_KEY_CACHE_SECONDS`, default 5; 0 turns the cache off). Expiry is checked on
every request against the cached `expires_at`, so an expired key is refused at its expiry
instant, cached or not. A revocation through
`gateway.accounts.service.revoke_api_key` in *this* process evicts the key from every cache of
the process at once and again when that transaction commits (so a concurrent request cannot
re-cache the row read just before the revocation committed).
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.accounts.caller import Caller

DEFAULT_TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000


@dataclass
class CachedKey:
    caller: Caller
    key_id: uuid.UUID
    expires_at: datetime | None
    last_used_at: datetime | None  # as last written (or read) by this process
    loaded: float                  # time.monotonic() of the database read


class ApiKeyCache:
    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[bytes, CachedKey] = {}
        self._lock = threading.Lock()
        _ALL.add(self)

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, key_hash: bytes) -> CachedKey | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if time.monotonic() - entry.loaded >= self.ttl:
            self.forget(key_hash)
            return None
        return entry

    def put(self, key_hash: bytes, entry: CachedKey) -> None:
        if not self.enabled:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # bounded; a refill costs one lookup per live key
            self._entries[key_hash] = entry

    def forget(self, key_hash: bytes) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_ALL: weakref.WeakSet[ApiKeyCache] = weakref.WeakSet()


def forget_everywhere(key_hash: bytes) -> None:
    """Evict one key from every cache of this process (revocation)."""
    for cache in list(_ALL):
        cache.forget(key_hash)

