"""Per-mailbox data keys: created on first use, unwrapped through a cache, rotated, shredded.

Functions that take a `Session` only execute statements inside the caller's transaction (the
request owns it); they never commit. `rotate` is the exception by design: it runs outside any
request, takes a session factory and gives every re-wrap its own short transaction so readers
and writers carry on while it runs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.crypto.aead import AeadKey, new_key
from gateway.crypto.cache import KeyCache
from gateway.crypto.errors import (
    CryptoError,
    DecryptionFailed,
    KeyDestroyed,
    KeyInUse,
    KeyUnavailable,
)
from gateway.crypto.keyprovider import KekState, KeyContext, KeyProvider, WrappedKey
from gateway.crypto.models import MailboxDataKey
from gateway.kit.timeutil import utcnow

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]
_T = cast(Table, MailboxDataKey.__table__)
_CURRENT = "current"


@dataclass(frozen=True, slots=True)
class DataKey:
    version: int
    key: AeadKey


@dataclass(frozen=True, slots=True)
class KekUsage:
    version: int
    state: KekState
    data_keys: int


@dataclass
class RotationReport:
    new_version: int
    rewrapped: int = 0
    failed: list[str] = field(default_factory=list)
    remaining: int = 0


def _insert(session: Session) -> Any:
    """An INSERT that ignores a concurrent first-use insert of the same (mailbox, version)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(_T).on_conflict_do_nothing(
            index_elements=["mailbox_id", "version"])
    if name == "sqlite":
        return sqlite.insert(_T).on_conflict_do_nothing(index_elements=["mailbox_id", "version"])
    return _T.insert()


class Keyring:
    def __init__(self, provider: KeyProvider, cache: KeyCache[DataKey]) -> None:
        self.provider = provider
        self.cache = cache

    # -- reading and creating -------------------------------------------------------------------

    def _rows(self, session: Session, tenant: str, mailbox: str,
              version: int | None = None) -> list[Any]:
        stmt = select(_T.c.tenant_id, _T.c.version, _T.c.kek_version, _T.c.wrapped_key,
                      _T.c.destroyed_at).where(_T.c.mailbox_id == uuid.UUID(mailbox))
        if version is not None:
            stmt = stmt.where(_T.c.version == version)
        rows = list(session.execute(stmt.order_by(_T.c.version.desc())).all())
        if any(str(r.tenant_id) != tenant for r in rows):
            raise CryptoError("this mailbox's keys belong to another tenant")
        if any(r.destroyed_at is not None for r in rows):
            raise KeyDestroyed("this mailbox's data key was destroyed")
        return rows

    def _unwrap(self, tenant: str, mailbox: str, row: Any) -> DataKey:
        context = KeyContext(tenant, mailbox, row.version)
        raw = self.provider.unwrap(context, WrappedKey(row.kek_version, row.wrapped_key))
        data_key = DataKey(row.version, AeadKey(raw))
        self.cache.put((tenant, mailbox, row.version), data_key)
        return data_key

    def current_key(self, session: Session, tenant: str, mailbox: str) -> DataKey:
        """The mailbox's newest data key, created (and flushed) on first use."""
        cached = self.cache.get((tenant, mailbox, _CURRENT))
        if cached is not None:
            return cached
        created: tuple[bytes, WrappedKey] | None = None
        for _ in range(2):
            rows = self._rows(session, tenant, mailbox)
            if rows:
                latest = rows[0]
                data_key = self.cache.get((tenant, mailbox, latest.version))
                if data_key is None and created is not None and (
                        created[1].blob == latest.wrapped_key):
                    data_key = DataKey(latest.version, AeadKey(created[0]))
                    self.cache.put((tenant, mailbox, latest.version), data_key)
                if data_key is None:
                    data_key = self._unwrap(tenant, mailbox, latest)
                self.cache.put((tenant, mailbox, _CURRENT), data_key)
                return data_key
            # First use. If another transaction creates the key concurrently, ours is dropped
            # (ON CONFLICT DO NOTHING) and the loop reads theirs.
            raw = new_key()
            wrapped = self.provider.wrap(KeyContext(tenant, mailbox, 1), raw)
            created = (raw, wrapped)
            session.execute(_insert(session).values(
                id=uuid.uuid4(), tenant_id=uuid.UUID(tenant), mailbox_id=uuid.UUID(mailbox),
                version=1, kek_version=wrapped.kek_version, wrapped_key=wrapped.blob,
                created_at=utcnow()))
        raise CryptoError("could not create the mailbox data key")

    def key_for(self, session: Session, tenant: str, mailbox: str, version: int) -> AeadKey:
        """The data key a ciphertext names; DecryptionFailed if this mailbox has no such key."""
        cached = self.cache.get((tenant, mailbox, version))
        if cached is not None:
            return cached.key
        rows = self._rows(session, tenant, mailbox, version)
        if not rows:
            raise DecryptionFailed("no such data key for this mailbox")
        return self._unwrap(tenant, mailbox, rows[0]).key

    # -- shredding ------------------------------------------------------------------------------

    def destroy(self, session: Session, tenant: str, mailbox: str) -> None:
        """Crypto-shred a mailbox: tombstone its key rows, destroy its provider key material.

        Irreversible once it returns, whatever happens to the caller's transaction: the key
        material at the provider is gone even if the tombstones are rolled back.
        """
        owners = session.execute(select(_T.c.tenant_id).where(
            _T.c.mailbox_id == uuid.UUID(mailbox)).distinct()).scalars().all()
        if any(str(owner) != tenant for owner in owners):
            raise CryptoError("this mailbox's keys belong to another tenant")
        now = utcnow()
        session.execute(update(_T).where(
            _T.c.mailbox_id == uuid.UUID(mailbox), _T.c.wrapped_key.is_not(None),
        ).values(wrapped_key=None, destroyed_at=now))
        if not owners:
            # Never keyed: leave a tombstone so no key can be created for it afterwards.
            session.execute(_insert(session).values(
                id=uuid.uuid4(), tenant_id=uuid.UUID(tenant), mailbox_id=uuid.UUID(mailbox),
                version=1, kek_version=self.provider.primary_version(), wrapped_key=None,
                created_at=now, destroyed_at=now))
        session.flush()
        self.provider.destroy_mailbox(tenant, mailbox)
        self.cache.discard_prefix(tenant, mailbox)

    # -- KEK rotation and retirement --------------------------------------------------------------

    def rotate(self, session_factory: SessionFactory, *, batch_size: int = 200,
               max_passes: int = 3, add_version: bool = True) -> RotationReport:
        """Add a KEK version (unless told not to) and re-wrap every data key under it, online.

        Keyset-paginated over ids; each re-wrap runs in its own short transaction with the row
        locked (FOR UPDATE on PostgreSQL) and an optimistic check on the old KEK version, so a
        reader sees either the old or the new wrapping, both of which it can unwrap. Further
        passes catch keys created under the old version by processes that had not yet seen the
        rotation. Failures (e.g. a corrupted row) are reported, never silently skipped.
        """
        new_version = (self.provider.add_version() if add_version
                       else self.provider.primary_version())
        report = RotationReport(new_version)
        failed: set[uuid.UUID] = set()
        for _ in range(max_passes):
            primary = self.provider.primary_version()
            done_this_pass = 0
            last: uuid.UUID | None = None
            while True:
                with session_factory() as session:
                    stmt = select(_T.c.id).where(
                        _T.c.wrapped_key.is_not(None), _T.c.kek_version != primary)
                    if last is not None:
                        stmt = stmt.where(_T.c.id > last)
                    ids = list(session.execute(
                        stmt.order_by(_T.c.id).limit(batch_size)).scalars())
                if not ids:
                    break
                last = ids[-1]
                for key_id in ids:
                    if key_id in failed:
                        continue
                    try:
                        done_this_pass += self._rewrap_one(session_factory, key_id, primary)
                    except KeyUnavailable:
                        raise  # the provider is down: stop; `kek rotate --resume` continues
                    except CryptoError as exc:
                        failed.add(key_id)
                        log.error("could not re-wrap data key %s: %s", key_id, exc)
            report.rewrapped += done_this_pass
            if done_this_pass == 0:
                break
        report.failed = sorted(str(f) for f in failed)
        with session_factory() as session:
            report.remaining = session.execute(select(func.count()).select_from(_T).where(
                _T.c.wrapped_key.is_not(None),
                _T.c.kek_version != self.provider.primary_version())).scalar_one()
        return report

    def _rewrap_one(self, session_factory: SessionFactory, key_id: uuid.UUID,
                    primary: int) -> int:
        with session_factory() as session, session.begin():
            row = session.execute(
                select(_T.c.tenant_id, _T.c.mailbox_id, _T.c.version, _T.c.kek_version,
                       _T.c.wrapped_key).where(_T.c.id == key_id).with_for_update()
            ).one_or_none()
            if row is None or row.wrapped_key is None or row.kek_version == primary:
                return 0
            context = KeyContext(str(row.tenant_id), str(row.mailbox_id), row.version)
            new = self.provider.rewrap(context, WrappedKey(row.kek_version, row.wrapped_key))
            result = session.execute(update(_T).where(
                _T.c.id == key_id, _T.c.kek_version == row.kek_version,
            ).values(kek_version=new.kek_version, wrapped_key=new.blob))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def usage(self, session: Session) -> list[KekUsage]:
        """Every KEK version with the number of live data keys it wraps."""
        counts = {int(version): int(n) for version, n in session.execute(
            select(_T.c.kek_version, func.count()).where(_T.c.wrapped_key.is_not(None))
            .group_by(_T.c.kek_version)).all()}
        return [KekUsage(v.version, v.state, int(counts.get(v.version, 0)))
                for v in self.provider.versions()]

    def retire(self, session: Session, version: int) -> None:
        """Destroy a KEK version at the provider, refusing while any data key still uses it."""
        if version == self.provider.primary_version():
            raise KeyInUse(f"KEK version {version} is the primary one; rotate first")
        in_use = session.execute(select(func.count()).select_from(_T).where(
            _T.c.kek_version == version, _T.c.wrapped_key.is_not(None))).scalar_one()
        if in_use:
            raise KeyInUse(f"KEK version {version} still wraps {in_use} data keys; "
                           "run `kek rotate` (or let it finish) first")
        self.provider.retire_version(version)
