"""`Sealed`: ciphertext as a value only the crypto layer can mint.

An `EncryptedColumn` accepts nothing else, so writing a plaintext `str` or `bytes` into an
encrypted column is a type error at flush time rather than a silent leak. The constructor
demands a private token held by this package; code elsewhere that fabricates a `Sealed` from
arbitrary bytes has to reach for a name starting with an underscore, which review catches.
"""

from __future__ import annotations

from typing import Final

from gateway.crypto.aead import record_header


class _MintToken:
    __slots__ = ()


_MINT: Final = _MintToken()


class Sealed:
    """An encrypted record (format version, data-key version, nonce, ciphertext and tag)."""

    __slots__ = ("_blob", "_key_version")

    def __init__(self, blob: bytes, *, _mint: object) -> None:
        if _mint is not _MINT:
            raise TypeError("Sealed values are produced by CryptoService.seal, not built by hand")
        if not isinstance(blob, bytes):
            raise TypeError("Sealed wraps bytes")
        self._key_version = record_header(blob)[1]
        self._blob = blob

    @property
    def blob(self) -> bytes:
        """The stored bytes (already encrypted; safe to persist)."""
        return self._blob

    @property
    def key_version(self) -> int:
        """Version of the mailbox data key that sealed it."""
        return self._key_version

    def __len__(self) -> int:
        return len(self._blob)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealed) and other._blob == self._blob

    def __hash__(self) -> int:
        return hash(self._blob)

    def __repr__(self) -> str:
        return f"Sealed(<{len(self._blob)} bytes, data key v{self.key_version}>)"


def mint(blob: bytes) -> Sealed:
    """Wrap bytes that came out of `seal_record` or out of an encrypted column."""
    return Sealed(blob, _mint=_MINT)
