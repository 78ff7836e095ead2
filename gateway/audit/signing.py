"""Ed25519 keys for checkpoints and purge anchors.

The private key signs; verification needs only public keys, and trusts only keys that come
from outside the database (a key stored next to the log could be replaced along with it).

Where the keys live:
- dev/test: `<data_dir>/keys/audit-signing.ed25519.pem` (PKCS#8, mode 0600), generated on
  first use; its public half is written next to it (`.pub.pem`).
- prod: the file must be provisioned (`gmail-gateway audit init-signing-key`, or mounted from
  the secret store); it is never generated silently. Retired public keys (after a rotation) go
  to `<data_dir>/keys/audit-trusted/*.pub.pem` so older checkpoints keep verifying.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from gateway.settings import Environment, Settings

SIGNING_KEY_NAME = "audit-signing.ed25519.pem"
TRUSTED_DIR_NAME = "audit-trusted"


class SigningKeyUnavailable(Exception):
    """No usable signing key (missing in production, unreadable, or not Ed25519)."""


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class AuditSigner:
    private_key: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        return key_id_of(self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    @classmethod
    def generate(cls) -> AuditSigner:
        return cls(Ed25519PrivateKey.generate())


class TrustedKeys:
    """Public keys a verifier accepts, by key id."""

    def __init__(self, keys: list[Ed25519PublicKey] | None = None) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for key in keys or []:
            self.add(key)

    def add(self, key: Ed25519PublicKey) -> None:
        self._keys[key_id_of(key)] = key

    def public_bytes(self) -> list[bytes]:
        return [key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                for _, key in sorted(self._keys.items())]

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def verify(self, key_id: str, message: bytes, signature: bytes) -> bool:
        key = self._keys.get(key_id)
        if key is None:
            return False
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __len__(self) -> int:
        return len(self._keys)


def signing_key_path(settings: Settings) -> Path:
    configured: Any = getattr(settings, "audit_signing_key_file", None)
    if configured:
        return Path(configured)
    return settings.data_dir / "keys" / SIGNING_KEY_NAME


def trusted_dir(settings: Settings) -> Path:
    return signing_key_path(settings).parent / TRUSTED_DIR_NAME


def _public_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.name.removesuffix(".pem") + ".pub.pem")


def write_signing_key(path: Path, signer: AuditSigner | None = None) -> AuditSigner:
    """Write a new private key (0600) and its public half. Refuses to overwrite."""
    signer = signer or AuditSigner.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = signer.private_key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public = signer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _public_path(path).write_bytes(public)
    return signer


def _read_private(path: Path) -> AuditSigner:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyUnavailable(f"cannot read the audit signing key {path}: "
                                    f"{type(exc).__name__}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyUnavailable(f"{path} is not an Ed25519 private key")
    return AuditSigner(key)


def load_signer(settings: Settings) -> AuditSigner:
    """The signing key; generated on first use outside production, required in production."""
    path = signing_key_path(settings)
    if not path.exists():
        if settings.environment is Environment.prod:
            raise SigningKeyUnavailable(
                f"the audit signing key {path} is missing; provision it with "
                "`gmail-gateway audit init-signing-key` or mount it from the secret store")
        try:
            return write_signing_key(path)
        except FileExistsError:  # another process generated it first
            pass
    return _read_private(path)


def load_trusted_keys(settings: Settings) -> TrustedKeys:
    """The current key's public half plus every retired public key in `audit-trusted/`."""
    trusted = TrustedKeys()
    path = signing_key_path(settings)
    public_path = _public_path(path)
    if public_path.exists():
        trusted.add(_read_public(public_path))
    elif path.exists():
        trusted.add(_read_private(path).private_key.public_key())
    directory = trusted_dir(settings)
    if directory.is_dir():
        for candidate in sorted(directory.glob("*.pem")):
            trusted.add(_read_public(candidate))
    return trusted


def _read_public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SigningKeyUnavailable(f"cannot read the public key {path}: "
                                    f"{type(exc).__name__}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyUnavailable(f"{path} is not an Ed25519 public key")
    return key


def rotate_signing_key(settings: Settings) -> tuple[str, str]:
    """Retire the current key (its public half stays trusted) and start a new one."""
    path = signing_key_path(settings)
    old = _read_private(path)
    directory = trusted_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    public = old.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (directory / f"{old.key_id}.pub.pem").write_bytes(public)
    retired = path.with_name(f"{path.name}.retired-{old.key_id}")
    path.rename(retired)
    retired.unlink()  # the private half of a retired key is of no further use
    _public_path(path).unlink(missing_ok=True)
    new = write_signing_key(path)
    return old.key_id, new.key_id
