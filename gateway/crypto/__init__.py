"""Encryption at rest: envelope encryption with per-mailbox data keys, blind indexes, shredding.

The public surface is small on purpose: `CryptoService` (the facade the app builds once in its
lifespan), `Binding` (the associated data every ciphertext is bound to), `Sealed` (the only value
an `EncryptedColumn` accepts) and the exception types. User content opens only with an
`Access` (`CryptoService.open_content`); the gateway's own secrets through
`open_owned_secret`. Everything touching `cryptography.hazmat` lives in `gateway.crypto.aead`
and nowhere else.
"""

from gateway.crypto.binding import Binding
from gateway.crypto.errors import (
    CryptoError,
    DecryptionFailed,
    KeyDestroyed,
    KeyInUse,
    KeyUnavailable,
    OpeningRefused,
    PlaintextRefused,
    UnsafeKeyFile,
)
from gateway.crypto.fields import EncryptedColumn
from gateway.crypto.sealed import Sealed
from gateway.crypto.service import CryptoService

__all__ = [
    "Binding",
    "CryptoError",
    "CryptoService",
    "DecryptionFailed",
    "EncryptedColumn",
    "KeyDestroyed",
    "KeyInUse",
    "KeyUnavailable",
    "OpeningRefused",
    "PlaintextRefused",
    "Sealed",
    "UnsafeKeyFile",
]
