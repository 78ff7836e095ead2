"""Finding the watched mailbox(es) for the address in a Gmail notification, without a plaintext
address anywhere.

Each watch row stores `address_index` = HMAC(K_tenant, normalised address) (the blind index of
`gateway.crypto.blind_index`). A notification carries no tenant, so the address is indexed
under every tenant that has a watch — one HMAC each, over the address normalised once — and the
rows whose (tenant, index) pair matches are the mailboxes; the same Google account connected in
two tenants is found in both. A deployment-wide index would be O(1) but would make one person's
mailboxes in different tenants linkable from the database alone; per-tenant keys keep them
unrelated.

That costs O(tenants) per lookup (bench/push_lookup_bench.py), so `WatchLookup` remembers found
matches for `CACHE_SECONDS` in the process: Gmail pushes the same mailbox again and again (up to
once a second), and only the first push of a mailbox per process and period pays the full
lookup. The cache key is a keyed hash with a per-process random key, never the address. A hit
is used only if every remembered mailbox still has its watch and is active (one primary-key
query), so a mailbox disconnected and connected again is looked up afresh. Only live matches
are remembered; an address that matched nothing is looked up again next time, so a new watch
is found at once — except a second tenant's new watch for an address already remembered for
another tenant, found when the entry expires (its changes arrive by polling meanwhile).
"""

from __future__ import annotations

import hmac
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from hashlib import sha256

from sqlalchemy import LargeBinary, any_, bindparam, exists, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from gateway.accounts.models import Tenant
from gateway.crypto import CryptoService
from gateway.crypto.blind_index import EMAIL_KIND, normalize_email
from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import MailboxState
from gateway.push.models import MailboxWatch

CACHE_SECONDS = 300.0
CACHE_ENTRIES = 100_000

Match = tuple[uuid.UUID, uuid.UUID]  # (mailbox id, tenant id)


def find_watched(session: Session, crypto: CryptoService, address: str) -> list[Match]:
    """(mailbox id, tenant id) of every watch made for `address`, in any tenant."""
    try:
        normalised = normalize_email(address)
    except ValueError:
        return []  # not an address (the envelope check is looser than the normaliser)
    tenants = session.scalars(select(Tenant.id).where(exists().where(
        MailboxWatch.tenant_id == Tenant.id, MailboxWatch.address_index.is_not(None)))).all()
    if not tenants:
        return []
    # Normalised once, then one HMAC per tenant (blind_index_email would re-parse each time).
    wanted = {crypto.blind_index(tenant, EMAIL_KIND, normalised): tenant for tenant in tenants}
    indexes = list(wanted)
    if session.get_bind().dialect.name == "postgresql":
        # one array parameter rather than thousands of bound values
        matches = MailboxWatch.address_index == any_(
            bindparam("indexes", indexes, type_=postgresql.ARRAY(LargeBinary)))
    else:
        matches = MailboxWatch.address_index.in_(indexes)
    rows = session.execute(select(MailboxWatch.mailbox_id, MailboxWatch.tenant_id,
                                  MailboxWatch.address_index).where(matches)).all()
    return [(row.mailbox_id, row.tenant_id) for row in rows
            if row.address_index is not None and wanted.get(row.address_index) == row.tenant_id]


def _all_live(session: Session, matches: list[Match]) -> bool:
    """Every match still has its watch and an active mailbox (one primary-key query). A
    disconnected mailbox, reconnected as a new one, is therefore never served from memory."""
    ids = [mailbox_id for mailbox_id, _ in matches]
    live = set(session.scalars(
        select(MailboxWatch.mailbox_id).join(Mailbox, Mailbox.id == MailboxWatch.mailbox_id)
        .where(MailboxWatch.mailbox_id.in_(ids), Mailbox.state == MailboxState.active.value,
               Mailbox.data_deleted_at.is_(None))).all())
    return live == set(ids)


class WatchLookup:
    """`find_watched` with a per-process memory of recent matches (thread-safe)."""

    def __init__(self, crypto: CryptoService, *, ttl: float = CACHE_SECONDS,
                 max_entries: int = CACHE_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.crypto = crypto
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._key = os.urandom(32)
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[float, list[Match]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _cache_key(self, address: str) -> bytes | None:
        try:
            normalised = normalize_email(address)
        except ValueError:
            return None
        return hmac.new(self._key, normalised.encode(), sha256).digest()

    def find(self, session: Session, address: str) -> list[Match]:
        key = self._cache_key(address)
        if key is None:
            return []
        now = self._clock()
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None and cached[0] > now:
                self._entries.move_to_end(key)
            else:
                cached = None
        if cached is not None and _all_live(session, cached[1]):
            self.hits += 1
            return list(cached[1])
        self.misses += 1
        found = find_watched(session, self.crypto, address)
        if found and _all_live(session, found):
            with self._lock:
                self._entries[key] = (now + self.ttl, list(found))
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
