"""Key providers: where key-encryption keys (KEKs) and per-mailbox shredding keys live.

A data key (DEK) is wrapped twice before it is stored in `mailbox_data_keys.wrapped_key`:

    inner = seal(K_mailbox, DEK)     K_mailbox: one key per mailbox, held by the provider only
    outer = seal(KEK_v, inner)       KEK_v: the provider's versioned key-encryption key

Rotation re-wraps only the outer layer (`rewrap`), so it never needs K_mailbox. Shredding
destroys K_mailbox at the provider (`destroy_mailbox`): a database dump taken earlier still holds
`outer`, and the KEK still opens it, but what comes out is sealed under a key that no longer
exists anywhere. Both layers bind the wrapped key to tenant, mailbox and data-key version.

`LocalFileKeyProvider` keeps everything in files next to `settings.key_file`;
`gateway.crypto.vault.VaultTransitKeyProvider` keeps it in HashiCorp Vault's transit engine.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from gateway.crypto.aead import KEY_BYTES, AeadKey, new_key
from gateway.crypto.binding import canonical_uuid, encode_fields
from gateway.crypto.errors import (
    DecryptionFailed,
    KeyDestroyed,
    KeyUnavailable,
    UnsafeKeyFile,
)
from gateway.crypto.keyfile import (
    ORIGIN_GENERATED,
    ORIGIN_PROVISIONED,
    KekEntry,
    KekState,
    KeyFileState,
    write_new_key_file,
)
from gateway.kit.timeutil import utcnow

__all__ = [
    "ORIGIN_GENERATED",
    "ORIGIN_PROVISIONED",
    "KekState",
    "KekVersion",
    "KeyContext",
    "KeyProvider",
    "LocalFileKeyProvider",
    "WrappedKey",
    "write_new_key_file",
]

log = logging.getLogger(__name__)

_OUTER_AD = b"gmail-gateway/wrap/outer/v1"
_INNER_AD = b"gmail-gateway/wrap/inner/v1"
_WRAP_HEADER = struct.Struct(">BI")
_WRAP_FORMAT_V1 = 0x01


@dataclass(frozen=True, slots=True)
class KeyContext:
    """Whose data key is being wrapped: both wrapping layers authenticate these three values."""

    tenant: str
    mailbox: str
    version: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "tenant", canonical_uuid(self.tenant, "tenant"))
        object.__setattr__(self, "mailbox", canonical_uuid(self.mailbox, "mailbox"))
        if self.version < 1:
            raise ValueError("data-key versions start at 1")

    def encode(self, layer: bytes) -> bytes:
        return encode_fields(layer, self.tenant, self.mailbox, str(self.version))


@dataclass(frozen=True, slots=True)
class KekVersion:
    version: int
    state: KekState
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WrappedKey:
    kek_version: int
    blob: bytes


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps data keys; every method raises KeyUnavailable if the backend is down."""

    name: str

    def wrap(self, context: KeyContext, data_key: bytes) -> WrappedKey:
        """Wrap under the mailbox key (created on first use) and the primary KEK version."""
        ...

    def unwrap(self, context: KeyContext, wrapped: WrappedKey) -> bytes:
        """Open both layers; KeyDestroyed if the mailbox key is gone, DecryptionFailed if moved."""
        ...

    def rewrap(self, context: KeyContext, wrapped: WrappedKey) -> WrappedKey:
        """Move the outer layer to the primary KEK version (the mailbox key is not needed)."""
        ...

    def primary_version(self) -> int: ...

    def versions(self) -> list[KekVersion]: ...

    def add_version(self) -> int:
        """Create a new KEK version and make it primary; returns its number."""
        ...

    def retire_version(self, version: int) -> None:
        """Destroy a non-primary KEK version. Callers first check that nothing uses it."""
        ...

    def destroy_mailbox(self, tenant: str, mailbox: str) -> None:
        """Destroy the mailbox's key material for good (idempotent)."""
        ...

    def blind_index_key(self) -> bytes:
        """The blind-index root key, independent of every KEK."""
        ...

    def ping(self) -> None:
        """Raise KeyUnavailable unless wrap/unwrap would work right now."""
        ...


def unpack_outer(blob: bytes) -> tuple[int, bytes, bytes]:
    """(kek version, header bytes, sealed rest) of a locally wrapped key."""
    if len(blob) <= _WRAP_HEADER.size:
        raise DecryptionFailed("wrapped key too short")
    fmt, kek_version = _WRAP_HEADER.unpack_from(blob)
    if fmt != _WRAP_FORMAT_V1:
        raise DecryptionFailed(f"unknown wrapped-key format {fmt}")
    return kek_version, blob[: _WRAP_HEADER.size], blob[_WRAP_HEADER.size :]


class LocalFileKeyProvider:
    """KEKs and the blind-index key in a JSON file, mailbox keys in a sibling directory.

    Safe for several processes on one host (changes are made under an exclusive `flock` and
    written atomically; other processes notice the new file by its mtime). For several hosts or
    production, use a KMS: a local file cannot be shared safely nor destroyed verifiably.
    """

    name = "local-file"

    def __init__(self, key_file: Path, *, production: bool, create: bool | None = None) -> None:
        self._path = Path(key_file)
        self._production = production
        self._mailbox_dir = self._path.parent / f"{self._path.stem}.mailboxes"
        self._lock = threading.RLock()
        self._state: KeyFileState | None = None
        self._stamp: tuple[int, int] | None = None
        self._keks: dict[int, AeadKey] = {}
        create = (not production) if create is None else create
        if production and create:
            raise UnsafeKeyFile("refusing to generate keys in production")
        if not self._path.exists():
            if not create:
                raise UnsafeKeyFile(
                    f"key file {self._path} does not exist; in production it must be "
                    "provisioned deliberately (`gmail-gateway kek init-key-file`) and backed "
                    "up, because a key generated silently at start-up (e.g. on a volume that "
                    "failed to mount) would make all existing data unreadable and new data "
                    "depend on a key nobody has a copy of")
            self._generate()
        self._load(force=True)

    # -- file handling -----------------------------------------------------------------------

    def _generate(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._file_lock():
            if self._path.exists():
                return
            write_new_key_file(self._path, origin=ORIGIN_GENERATED)
            log.warning("generated a new local key file at %s (dev/test only)", self._path)

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        lock_path = self._path.parent / f".{self._path.name}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _load(self, *, force: bool = False) -> KeyFileState:
        with self._lock:
            try:
                st = self._path.stat()
            except OSError as exc:
                raise KeyUnavailable(f"key file unreadable: {exc.strerror}") from None
            stamp = (st.st_mtime_ns, st.st_size)
            if not force and self._state is not None and stamp == self._stamp:
                return self._state
            if st.st_mode & 0o077:
                if self._production:
                    raise UnsafeKeyFile(
                        f"key file {self._path} is readable by group/others "
                        f"(mode {st.st_mode & 0o777:o}); chmod 600 it")
                log.warning("key file %s has loose permissions", self._path)
            try:
                raw = json.loads(self._path.read_bytes())
            except (OSError, ValueError) as exc:
                raise KeyUnavailable(f"key file unreadable: {exc}") from None
            state = KeyFileState.from_json(raw)
            if self._production and state.origin != ORIGIN_PROVISIONED:
                raise UnsafeKeyFile(
                    f"key file {self._path} was generated automatically on a first run; "
                    "production refuses it because nobody provisioned or backed it up "
                    "deliberately (it may be a dev key copied around, or one created when the "
                    "real key volume was missing). Provision one with "
                    "`gmail-gateway kek init-key-file`")
            self._state = state
            self._stamp = stamp
            self._keks = {v: AeadKey(e.key) for v, e in state.keks.items() if e.key is not None}
            return state

    def _save(self, state: KeyFileState) -> None:
        data = json.dumps(state.to_json(), indent=2).encode()
        tmp = self._path.parent / f".{self._path.name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path)
        _fsync_dir(self._path.parent)
        self._load(force=True)

    # -- mailbox keys --------------------------------------------------------------------------

    def _mailbox_path(self, tenant: str, mailbox: str) -> Path:
        tenant = canonical_uuid(tenant, "tenant")
        mailbox = canonical_uuid(mailbox, "mailbox")
        return self._mailbox_dir / f"{tenant}.{mailbox}.key"

    def _mailbox_key(self, context: KeyContext, *, create: bool) -> AeadKey:
        path = self._mailbox_path(context.tenant, context.mailbox)
        try:
            return AeadKey(path.read_bytes())
        except FileNotFoundError:
            if not self._mailbox_dir.is_dir():
                raise KeyUnavailable("mailbox key directory is missing") from None
            if not create:
                raise KeyDestroyed("the mailbox key no longer exists") from None
        except OSError as exc:
            raise KeyUnavailable(f"mailbox key unreadable: {exc.strerror}") from None
        # Write the whole key to a temporary file, then link it into place: link() fails if
        # another process won the race, and nobody ever reads a half-written key.
        tmp = self._mailbox_dir / f".{path.name}.{os.getpid()}.{threading.get_ident()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, new_key())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
            _fsync_dir(self._mailbox_dir)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return AeadKey(path.read_bytes())

    # -- KeyProvider ---------------------------------------------------------------------------

    def _kek(self, version: int) -> AeadKey:
        with self._lock:
            key = self._keks.get(version)
            if key is None:
                self._load()
                key = self._keks.get(version)
            if key is None:
                raise KeyUnavailable(f"KEK version {version} is retired or unknown")
            return key

    def wrap(self, context: KeyContext, data_key: bytes) -> WrappedKey:
        self._mailbox_dir.mkdir(mode=0o700, exist_ok=True)
        inner = self._mailbox_key(context, create=True).seal(data_key, context.encode(_INNER_AD))
        return self._seal_outer(context, inner)

    def _seal_outer(self, context: KeyContext, inner: bytes) -> WrappedKey:
        state = self._load()
        version = state.primary
        header = _WRAP_HEADER.pack(_WRAP_FORMAT_V1, version)
        sealed = self._kek(version).seal(inner, header + context.encode(_OUTER_AD))
        return WrappedKey(version, header + sealed)

    def _open_outer(self, context: KeyContext, wrapped: WrappedKey) -> bytes:
        version, header, sealed = unpack_outer(wrapped.blob)
        if version != wrapped.kek_version:
            raise DecryptionFailed("wrapped key does not match its recorded KEK version")
        return self._kek(version).open(sealed, header + context.encode(_OUTER_AD))

    def unwrap(self, context: KeyContext, wrapped: WrappedKey) -> bytes:
        inner = self._open_outer(context, wrapped)
        return self._mailbox_key(context, create=False).open(inner, context.encode(_INNER_AD))

    def rewrap(self, context: KeyContext, wrapped: WrappedKey) -> WrappedKey:
        return self._seal_outer(context, self._open_outer(context, wrapped))

    def primary_version(self) -> int:
        return self._load().primary

    def versions(self) -> list[KekVersion]:
        state = self._load()
        return [KekVersion(e.version, e.state, e.created_at)
                for e in sorted(state.keks.values(), key=lambda e: e.version)]

    def add_version(self) -> int:
        with self._lock, self._file_lock():
            state = self._load(force=True)
            version = max(state.keks) + 1
            state.keks[state.primary].state = KekState.active
            state.keks[version] = KekEntry(version, KekState.primary, utcnow(),
                                            new_key())
            state.primary = version
            self._save(state)
            return version

    def retire_version(self, version: int) -> None:
        with self._lock, self._file_lock():
            state = self._load(force=True)
            entry = state.keks.get(version)
            if entry is None:
                raise ValueError(f"no KEK version {version}")
            if version == state.primary:
                raise ValueError("the primary KEK version cannot be retired; rotate first")
            if entry.state is KekState.retired:
                return
            entry.state = KekState.retired
            entry.key = None
            entry.retired_at = utcnow()
            self._save(state)

    def destroy_mailbox(self, tenant: str, mailbox: str) -> None:
        path = self._mailbox_path(tenant, mailbox)
        try:
            # Overwrite before unlinking: best effort only (journaling filesystems and SSDs may
            # keep old blocks), which is one reason production belongs on a KMS.
            with path.open("r+b") as fh:
                fh.write(b"\0" * KEY_BYTES)
                fh.flush()
                os.fsync(fh.fileno())
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise KeyUnavailable(f"could not destroy the mailbox key: {exc.strerror}") from None
        _fsync_dir(self._mailbox_dir)

    def blind_index_key(self) -> bytes:
        return self._load().blind_index_key

    def ping(self) -> None:
        state = self._load()
        self._kek(state.primary)
        self._mailbox_dir.mkdir(mode=0o700, exist_ok=True)
        if not os.access(self._mailbox_dir, os.W_OK | os.X_OK):
            raise KeyUnavailable("mailbox key directory is not writable")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
