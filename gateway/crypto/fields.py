"""`EncryptedColumn`: a column type that can only hold ciphertext.

It accepts a `Sealed` value (from `CryptoService.seal` / `seal_text`) and nothing else: a `str`
or `bytes` bound to it, in an INSERT, an UPDATE or a WHERE clause, raises `PlaintextRefused`
before anything reaches the database. Reading gives back `Sealed`; `CryptoService.open` with the
same `Binding` turns it into plaintext.

    class Message(Base):
        subject: Mapped[Sealed | None] = mapped_column(EncryptedColumn())
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from gateway.crypto.errors import PlaintextRefused
from gateway.crypto.sealed import Sealed, mint


class EncryptedColumn(TypeDecorator[Sealed]):
    impl = LargeBinary
    cache_ok = True

    @property
    def python_type(self) -> type[Any]:
        return Sealed

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, Sealed):
            return value.blob
        raise PlaintextRefused(
            f"refusing to store a {type(value).__name__} in an encrypted column; "
            "seal it with CryptoService.seal/seal_text first")

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        raise PlaintextRefused("encrypted columns never take literal values")

    def process_result_value(self, value: Any, dialect: Dialect) -> Sealed | None:
        if value is None:
            return None
        return mint(bytes(value))
