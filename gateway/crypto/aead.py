"""The only module that touches `cryptography.hazmat`: AES-256-GCM and HKDF, fenced in.

Everything else in the gateway goes through the small functions here, which make associated
data mandatory and draw a fresh random 96-bit nonce for every encryption (never a fixed IV, no
unauthenticated mode).

Record format, version 1 (what `seal_record` writes and `open_record` reads)::

    offset  size  field
    0       1     format version (0x01 = AES-256-GCM, 96-bit random nonce, 128-bit tag)
    1       4     data-key version, unsigned big-endian
    5       12    nonce
    17      n+16  ciphertext followed by the GCM tag

The 5 header bytes are authenticated too: the associated data given to GCM is
``header || binding``, so neither the format byte nor the key version can be altered.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.crypto.errors import DecryptionFailed

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
FORMAT_V1 = 0x01
_HEADER = struct.Struct(">BI")
HEADER_BYTES = _HEADER.size
RECORD_OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES
MAX_KEY_VERSION = 2**32 - 1


def new_key() -> bytes:
    """A fresh random AES-256 key."""
    return os.urandom(KEY_BYTES)


def _require_ad(associated_data: bytes) -> None:
    if not isinstance(associated_data, bytes) or not associated_data:
        raise ValueError("associated data is mandatory and must be non-empty bytes")


class AeadKey:
    """An AES-256-GCM key; the cipher object is built once so the hot path does not rebuild it."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "AeadKey(<redacted>)"

    def seal(self, plaintext: bytes, associated_data: bytes, *, prefix: bytes = b"") -> bytes:
        """Encrypt with a fresh random nonce; returns ``prefix || nonce || ciphertext || tag``."""
        _require_ad(associated_data)
        nonce = os.urandom(NONCE_BYTES)
        return b"".join((prefix, nonce, self._aead.encrypt(nonce, plaintext, associated_data)))

    def open(self, sealed: bytes, associated_data: bytes, *, offset: int = 0) -> bytes:
        """Decrypt ``nonce || ciphertext || tag`` found at `offset` of `sealed`; raise
        DecryptionFailed if anything is off."""
        _require_ad(associated_data)
        if len(sealed) - offset < NONCE_BYTES + TAG_BYTES:
            raise DecryptionFailed("ciphertext too short")
        start = offset + NONCE_BYTES
        try:
            return self._aead.decrypt(sealed[offset:start], sealed[start:], associated_data)
        except InvalidTag:
            raise DecryptionFailed("authentication failed") from None


def record_header(blob: bytes) -> tuple[int, int]:
    """(format version, data-key version) of a record, validating what can be checked unkeyed."""
    if len(blob) < RECORD_OVERHEAD:
        raise DecryptionFailed("ciphertext too short to be a record")
    fmt, key_version = _HEADER.unpack_from(blob)
    if fmt != FORMAT_V1:
        raise DecryptionFailed(f"unknown ciphertext format {fmt}")
    return fmt, key_version


def seal_record(key: AeadKey, key_version: int, plaintext: bytes, binding: bytes) -> bytes:
    """Encrypt `plaintext` into a version-1 record bound to `binding` (see the module doc)."""
    if not 0 < key_version <= MAX_KEY_VERSION:
        raise ValueError("key version out of range")
    header = _HEADER.pack(FORMAT_V1, key_version)
    return key.seal(plaintext, header + binding, prefix=header)


def open_record(key: AeadKey, blob: bytes, binding: bytes) -> bytes:
    """Decrypt a record produced by `seal_record` with the same key and binding."""
    record_header(blob)
    return key.open(blob, blob[:HEADER_BYTES] + binding, offset=HEADER_BYTES)


def hkdf_sha256(ikm: bytes, *, info: bytes, salt: bytes | None = None, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869): derive independent subkeys from one secret."""
    if not info:
        raise ValueError("HKDF info (the purpose of the derived key) is mandatory")
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)
