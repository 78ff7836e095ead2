"""Blind indexes: stable, normalised, tenant-separated, kind-separated, keyed."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from gateway.crypto import CryptoService
from gateway.crypto.blind_index import BLIND_INDEX_BYTES, BlindIndexer, normalize_email
from gateway.crypto.keyprovider import LocalFileKeyProvider

T1 = str(uuid.uuid4())
T2 = str(uuid.uuid4())


@pytest.mark.parametrize(("raw", "expected"), [
    ("alice@example.com", "alice@example.com"),
    ("  Alice@Example.COM ", "alice@example.com"),
    ('"Alice Example" <Alice@Example.com>', "alice@example.com"),
    ("Alice <alice@example.com.>", "alice@example.com"),
    ("a.l.i.c.e+crm@gmail.com", "alice@gmail.com"),
    ("Alice.Smith@GoogleMail.com", "alicesmith@gmail.com"),
    ("first.last+tag@example.com", "first.last+tag@example.com"),
])
def test_normalisation(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("bad", ["", "alice", "@example.com", "alice@", "Name <>", "+x@gmail.com"])
def test_not_addresses(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_email(bad)


def test_index_properties(crypto: CryptoService) -> None:
    a = crypto.blind_index_email(T1, "Alice <alice@example.com>")
    assert len(a) == BLIND_INDEX_BYTES
    assert a == crypto.blind_index_email(T1, "ALICE@example.com ")
    assert a == crypto.blind_index_email(uuid.UUID(T1), "alice@example.com")
    assert a != crypto.blind_index_email(T2, "alice@example.com")
    assert a != crypto.blind_index_email(T1, "bob@example.com")
    assert a != crypto.blind_index(T1, "thread-id", "alice@example.com")
    assert crypto.blind_index(T1, "thread-id", "abc") == crypto.blind_index(T1, "thread-id", b"abc")


def test_stable_across_restarts_and_keyed(key_file: Path, tmp_path: Path) -> None:
    first = CryptoService(LocalFileKeyProvider(key_file, production=False))
    second = CryptoService(LocalFileKeyProvider(key_file, production=False))
    other_keys = CryptoService(LocalFileKeyProvider(tmp_path / "other" / "k.json",
                                                    production=False))
    value = first.blind_index_email(T1, "alice@example.com")
    assert value == second.blind_index_email(T1, "alice@example.com")
    assert value != other_keys.blind_index_email(T1, "alice@example.com")


def test_independent_of_kek_rotation(key_file: Path) -> None:
    provider = LocalFileKeyProvider(key_file, production=False)
    before = BlindIndexer(provider.blind_index_key()).email(T1, "alice@example.com")
    provider.add_version()
    after = BlindIndexer(provider.blind_index_key()).email(T1, "alice@example.com")
    assert before == after


def test_blind_index_argument_checks(crypto: CryptoService) -> None:
    with pytest.raises(ValueError):
        crypto.blind_index(T1, "", "x")
    with pytest.raises(ValueError):
        crypto.blind_index("not-a-uuid", "email", "x")
