"""The canonical encoding of an entry and the chain hash.

    content    = ASCII JSON array, compact:
                 ["audit/v1", id, occurred_at (integer microseconds since the epoch, UTC),
                  request_id, tenant_id, mailbox_id, actor_kind, actor_id, connection_id,
                  client_ip, user_agent, device_id, protocol, upstream_protocol, operation,
                  action, purpose, resource_type, decision, policy_revision]
                 then, for resource_ids, reasons and detail: "<length>:" and the column's
                 stored JSON text
    entry_hash = SHA-256(prev_hash (32 bytes) || seq (int64, big-endian)
                          || shard (int32, big-endian) || content)

Every stored field is covered: the content fields directly, the position through `seq` and
`shard`, the predecessor through `prev_hash`. The JSON columns are written as canonical text
(`json_text`: compact, keys sorted, ASCII) and hashed exactly as stored, so verification reads
them as text and never parses them (the column type must stay `json`, which keeps its input
text, not `jsonb`, which rewrites it). The same bytes are computed when the entry is written
(from the values about to be inserted) and when it is verified (from the row read back).

PostgreSQL computes the same hash in the commit-time chaining statement
(`sha256(prev || int8send(seq) || int4send(shard) || content)`); verification always
recomputes it here, in Python, never trusting a database function.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

FORMAT_TAG = "audit/v1"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
_POSITION = struct.Struct(">qi")
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False).encode

# The columns the content covers, in encoding order (after the format tag).
CONTENT_COLUMNS: tuple[str, ...] = (
    "id", "occurred_at", "request_id", "tenant_id", "mailbox_id", "actor_kind", "actor_id",
    "connection_id", "client_ip", "user_agent", "device_id", "protocol", "upstream_protocol",
    "operation", "action", "purpose", "resource_type", "resource_ids", "decision", "reasons",
    "policy_revision", "detail",
)


def micros(value: datetime) -> int:
    """Integer microseconds since the epoch; naive values (SQLite) are UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // ONE_MICROSECOND


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def _uuid_text(value: uuid.UUID | str | None) -> str | None:
    if value is None or (type(value) is str and len(value) == 36):
        return value  # PostgreSQL's uuid::text is already the canonical form
    return str(value) if isinstance(value, uuid.UUID) else str(uuid.UUID(value))


def json_text(value: Any) -> str:
    """The canonical text a JSON column is stored as."""
    return _dumps(value)


def _json_bytes(value: Any) -> bytes:
    """JSON columns arrive as Python values (the writer, ORM reads) or as their stored text
    (verification): text is hashed as is, values as their canonical text."""
    text = value if type(value) is str else _dumps(value)
    data = text.encode("utf-8")
    return b"%d:%b" % (len(data), data)


def content_bytes_from_row(row: Sequence[Any]) -> bytes:
    """`row` holds the CONTENT_COLUMNS values in order, as stored or about to be stored.
    UUIDs may be `uuid.UUID` or text, JSON columns Python values or their stored text."""
    (entry_id, occurred_at, request_id, tenant_id, mailbox_id, actor_kind, actor_id,
     connection_id, client_ip, user_agent, device_id, protocol, upstream_protocol, operation,
     action, purpose, resource_type, resource_ids, decision, reasons, policy_revision,
     detail) = row
    return _dumps([
        FORMAT_TAG, _uuid_text(entry_id), micros(occurred_at), request_id,
        _uuid_text(tenant_id), _uuid_text(mailbox_id), actor_kind, actor_id, connection_id,
        client_ip, user_agent, device_id, protocol, upstream_protocol, operation, action,
        purpose, resource_type, decision, policy_revision,
    ]).encode("ascii") + _json_bytes(resource_ids) + _json_bytes(reasons) + _json_bytes(detail)


def content_bytes(values: Mapping[str, Any]) -> bytes:
    return content_bytes_from_row([values[c] for c in CONTENT_COLUMNS])


def link_hash(prev_hash: bytes, seq: int, shard: int, content: bytes) -> bytes:
    return hashlib.sha256(prev_hash + _POSITION.pack(seq, shard) + content).digest()


def normalise_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """What JSON storage will hand back: plain dicts/lists/str/int/float/bool/None."""
    if not detail:
        return {}
    loaded = json.loads(json.dumps(dict(detail), default=str, allow_nan=False))
    assert isinstance(loaded, dict)
    return loaded


def signed_message(kind: str, fields: Mapping[str, Any]) -> bytes:
    """The bytes an Ed25519 signature covers: a domain tag, then canonical JSON."""
    return f"gmail-gateway/audit/{kind}/v1\n".encode("ascii") + _dumps(dict(fields)).encode(
        "ascii")
