"""The AEAD record format: mandatory associated data, random nonces, tamper detection."""

from __future__ import annotations

import pytest

from gateway.crypto import aead
from gateway.crypto.errors import DecryptionFailed


@pytest.fixture
def key() -> aead.AeadKey:
    return aead.AeadKey(aead.new_key())


def test_round_trip_and_layout(key: aead.AeadKey) -> None:
    blob = aead.seal_record(key, 7, b"hello", b"ad")
    assert blob[0] == aead.FORMAT_V1
    assert int.from_bytes(blob[1:5], "big") == 7
    assert len(blob) == len(b"hello") + aead.RECORD_OVERHEAD
    assert aead.record_header(blob) == (1, 7)
    assert aead.open_record(key, blob, b"ad") == b"hello"


def test_associated_data_is_mandatory(key: aead.AeadKey) -> None:
    with pytest.raises(ValueError, match="associated data"):
        key.seal(b"x", b"")
    with pytest.raises(ValueError, match="associated data"):
        key.open(key.seal(b"x", b"a"), b"")


def test_nonces_are_random(key: aead.AeadKey) -> None:
    blobs = {aead.seal_record(key, 1, b"same", b"ad") for _ in range(200)}
    assert len(blobs) == 200
    nonces = {b[5:17] for b in blobs}
    assert len(nonces) == 200


def test_every_tampered_byte_fails(key: aead.AeadKey) -> None:
    blob = aead.seal_record(key, 1, b"some secret text", b"ad")
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(DecryptionFailed):
            aead.open_record(key, bytes(tampered), b"ad")


def test_truncated_wrong_ad_and_wrong_key_fail(key: aead.AeadKey) -> None:
    blob = aead.seal_record(key, 1, b"x" * 40, b"ad")
    with pytest.raises(DecryptionFailed):
        aead.open_record(key, blob[:-1], b"ad")
    with pytest.raises(DecryptionFailed):
        aead.open_record(key, blob[:10], b"ad")
    with pytest.raises(DecryptionFailed):
        aead.open_record(key, blob, b"other")
    with pytest.raises(DecryptionFailed):
        aead.open_record(aead.AeadKey(aead.new_key()), blob, b"ad")


def test_unknown_format_refused(key: aead.AeadKey) -> None:
    blob = bytearray(aead.seal_record(key, 1, b"x", b"ad"))
    blob[0] = 2
    with pytest.raises(DecryptionFailed, match="format"):
        aead.open_record(key, bytes(blob), b"ad")


def test_bad_keys_refused() -> None:
    with pytest.raises(ValueError):
        aead.AeadKey(b"short")
    with pytest.raises(ValueError):
        aead.seal_record(aead.AeadKey(aead.new_key()), 0, b"x", b"ad")
    assert "redacted" in repr(aead.AeadKey(aead.new_key()))


def test_hkdf_needs_purpose() -> None:
    with pytest.raises(ValueError):
        aead.hkdf_sha256(b"k" * 32, info=b"")
    assert aead.hkdf_sha256(b"k" * 32, info=b"a") != aead.hkdf_sha256(b"k" * 32, info=b"b")


def test_only_aead_module_imports_cryptography() -> None:
    import re
    from pathlib import Path

    package = Path(aead.__file__).parent
    imports = re.compile(r"^\s*(from|import)\s+cryptography\b", re.MULTILINE)
    offenders = [p.name for p in package.glob("*.py")
                 if p.name != "aead.py" and imports.search(p.read_text())]
    assert offenders == []
