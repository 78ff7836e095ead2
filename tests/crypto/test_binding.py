"""Binding: canonical, unambiguous associated data."""

from __future__ import annotations

import uuid

import pytest

from gateway.crypto import Binding

T = "6f1c1e3a-5a4b-4c1d-9a53-1f2e3d4c5b6a"
M = "0b7e2d9c-8a6f-4e3b-b1c2-d3e4f5a6b7c8"


def test_length_prefixing_is_unambiguous() -> None:
    a = Binding(T, M, "messages", "ab", "c")
    b = Binding(T, M, "messages", "a", "bc")
    assert a.encode() != b.encode()
    c = Binding(T, M, "messagesa", "b", "c")
    assert len({a.encode(), b.encode(), c.encode()}) == 3


def test_uuid_normalisation() -> None:
    upper = Binding(T.upper(), M, "t", "c", "r")
    assert upper == Binding(T, M, "t", "c", "r")
    assert upper.encode() == Binding(uuid.UUID(T), uuid.UUID(M), "t", "c", "r").encode()  # type: ignore[arg-type]
    assert Binding.of(uuid.UUID(T), uuid.UUID(M), "t", "c", 42).row == "42"


@pytest.mark.parametrize("field", ["table", "column", "row"])
def test_empty_fields_refused(field: str) -> None:
    kwargs = {"tenant": T, "mailbox": M, "table": "t", "column": "c", "row": "r", field: ""}
    with pytest.raises(ValueError):
        Binding(**kwargs)


def test_non_uuid_tenant_refused() -> None:
    with pytest.raises(ValueError):
        Binding("acme", M, "t", "c", "r")


def test_frozen() -> None:
    b = Binding(T, M, "t", "c", "r")
    with pytest.raises(AttributeError):
        b.row = "other"  # type: ignore[misc]
