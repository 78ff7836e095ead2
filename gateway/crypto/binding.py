"""What a ciphertext is bound to: tenant, mailbox, table, column and row.

The binding is encoded canonically (a domain tag, then each field as a 4-byte big-endian length
followed by its UTF-8 bytes, in a fixed order) and used as AES-GCM associated data, so a
ciphertext copied to another row, column, table, mailbox or tenant fails authentication. Tenant
and mailbox ids are UUIDs and are normalised to their canonical lowercase form, so "A1..." and
"a1..." cannot name two different bindings.
"""

from __future__ import annotations

import re
import struct
import uuid
from dataclasses import dataclass, field

_DOMAIN = b"gmail-gateway/aad/v1"
_LENGTH = struct.Struct(">I")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def canonical_uuid(value: str | uuid.UUID, what: str) -> str:
    """Return the canonical lowercase hyphenated form of a UUID, or raise ValueError."""
    if isinstance(value, str) and _CANONICAL_UUID.match(value):
        return value  # the hot path: already canonical, no parsing
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a UUID or its string form, got {type(value).__name__}")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"{what} must be a UUID, got {value!r}") from None


def encode_fields(domain: bytes, *parts: str) -> bytes:
    """Unambiguous encoding of a sequence of strings: length-prefixed, never just joined."""
    out = bytearray(_LENGTH.pack(len(domain)))
    out += domain
    for part in parts:
        raw = part.encode("utf-8")
        out += _LENGTH.pack(len(raw))
        out += raw
    return bytes(out)


def binding_prefix(tenant: str | uuid.UUID, mailbox: str | uuid.UUID) -> bytes:
    """The first fields of every binding of one mailbox; `binding_with` appends the rest, so
    `binding_with(binding_prefix(t, m), table, column, row) == Binding(t, m, table, column,
    row).encode()` without building a `Binding` per value (the store seals thousands)."""
    return encode_fields(_DOMAIN, canonical_uuid(tenant, "tenant"),
                         canonical_uuid(mailbox, "mailbox"))


def binding_with(prefix: bytes, table: str, column: str, row: str) -> bytes:
    if not (table and column and row and isinstance(row, str)):
        raise ValueError("binding table, column and row must be non-empty strings")
    out = bytearray(prefix)
    for part in (table, column, row):
        raw = part.encode("utf-8")
        out += _LENGTH.pack(len(raw))
        out += raw
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a ciphertext lives. Every field is required and non-empty."""

    tenant: str
    mailbox: str
    table: str
    column: str
    row: str
    _encoded: bytes = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        tenant = canonical_uuid(self.tenant, "tenant")
        if tenant is not self.tenant:
            object.__setattr__(self, "tenant", tenant)
        mailbox = canonical_uuid(self.mailbox, "mailbox")
        if mailbox is not self.mailbox:
            object.__setattr__(self, "mailbox", mailbox)
        for name in ("table", "column", "row"):
            value = getattr(self, name)
            if isinstance(value, uuid.UUID):
                value = str(value)
                object.__setattr__(self, name, value)
            if not isinstance(value, str) or not value:
                raise ValueError(f"binding {name} must be a non-empty string")
        object.__setattr__(self, "_encoded", encode_fields(
            _DOMAIN, self.tenant, self.mailbox, self.table, self.column, self.row))

    @classmethod
    def of(
        cls,
        tenant: str | uuid.UUID,
        mailbox: str | uuid.UUID,
        table: str,
        column: str,
        row: str | uuid.UUID | int,
    ) -> Binding:
        """Build a binding from ids of any usual type (UUIDs, integers) without str() noise."""
        return cls(str(tenant), str(mailbox), table, column, str(row))

    def encode(self) -> bytes:
        """The canonical bytes used as associated data."""
        return self._encoded
