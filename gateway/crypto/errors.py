"""Exceptions raised by the crypto layer, each saying what went wrong without leaking key material.

`KeyUnavailable` and `KeyDestroyed` are `GatewayError`s so the app's one problem-details handler
maps them (503 and 410) without knowing about this package; the others are internal failures
(corrupted or moved ciphertext, misuse) that no client input can cause.
"""

from __future__ import annotations

from gateway.kit.errors import GatewayError, Unavailable


class CryptoError(Exception):
    """Base of every error raised by `gateway.crypto`."""


class KeyUnavailable(Unavailable, CryptoError):
    """The key provider cannot be reached or does not hold the key asked for (maps to 503)."""

    code = "key_unavailable"
    title = "Encryption keys are unavailable"


class KeyDestroyed(GatewayError, CryptoError):
    """The mailbox's data key was destroyed (crypto-shredded); its data is gone for good."""

    status = 410
    code = "mailbox_key_destroyed"
    title = "This mailbox's data was deleted"


class DecryptionFailed(CryptoError):
    """Authentication failed: tampered ciphertext, or one moved to another row/column/mailbox."""


class KeyInUse(CryptoError):
    """A key-encryption-key version still wraps data keys and cannot be retired."""


class UnsafeKeyFile(CryptoError):
    """The local key file may not be used here (generated key in prod, loose permissions...)."""


class PlaintextRefused(TypeError, CryptoError):
    """Something other than a `Sealed` value was about to be written to an encrypted column."""


class OpeningRefused(PermissionError, CryptoError):
    """A ciphertext was about to be opened through the wrong path: user content without an
    `Access` covering its mailbox, or a gateway-owned secret through the user-content path (or
    the reverse). A programming error; no client input can cause it."""
