"""The binary COPY that `audit verify` reads on PostgreSQL: the query, the layout of its rows
and reading it straight from libpq. Split from the scan (`gateway.audit.verify_scan`) so that
module holds the checks and this one what the server is asked to send and how the answer is
laid out; bench/audit_bench.py reads the same stream for its read-only floor.

Per row the server sends four values: the position (prev_hash || seq || shard || entry_hash,
NULL unless both hashes have their length), the number of NULL string fields, the *body*
(the string fields joined the way the canonical encoding writes them when they need no
escaping, a NULL as `null`) and the *tail* (`<length>:<stored json>` for the three JSON
columns). Why the scan may hash the body as sent is in `gateway.audit.verify_scan`.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gateway.audit.canonical import CONTENT_COLUMNS, FORMAT_TAG
from gateway.audit.models import HASH_BYTES

_UUIDS = frozenset({"id", "tenant_id", "mailbox_id"})
# The COPY's body (`_BODY_SQL`) and where its leading fields sit.
_STRING_COLUMNS = tuple(c for c in CONTENT_COLUMNS
                        if c not in {"occurred_at", "resource_ids", "reasons", "detail"})
_JSON_COLUMNS = ("resource_ids", "reasons", "detail")
_PLAIN_BUT_QUOTE = bytes(b for b in range(0x20, 0x7F) if b not in b'\\"')
# What deleting those leaves of a body with n NULL fields: two quotes for the format tag and
# for each other field (a NULL is `null`), none inside a value.
_QUOTES_LEFT = [b'"' * 2 * (1 + len(_STRING_COLUMNS) - n)
                for n in range(len(_STRING_COLUMNS) + 1)]
_ID_IN_BODY = slice(len(f'["{FORMAT_TAG}","'), len(f'["{FORMAT_TAG}","') + 36)
_MICROS_AT = _ID_IN_BODY.stop + 2  # after the id's closing quote and the comma
# A binary COPY row of the scan: field count, then the position (prev_hash || seq || shard ||
# entry_hash), the NULL count and the body's length; the body and the tail follow.
_HEAD = struct.Struct(">2xi32sqi32s4xii")
_POSITION_BYTES = 2 * HASH_BYTES + 12
_BODY_AT = _HEAD.size
_PREFIX = slice(6, 6 + HASH_BYTES + 12)  # prev_hash || seq || shard: what the hash starts with
_NULL_LENGTH = b"\xff\xff\xff\xff"
_INT4 = struct.Struct(">i")
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_COPY_TRAILER = b"\xff\xff"


def _where(include_unchained: bool, since: datetime | None, until: datetime | None) -> str:
    where = "shard = ANY(%(shards)s)"
    if include_unchained:
        where = f"({where} OR seq IS NULL)"
    if since is not None:
        where += " AND occurred_at >= %(since)s"
    if until is not None:
        where += " AND occurred_at < %(until)s"
    return where


def _quoted(column: str) -> str:
    value = f"{column}::text" if column in _UUIDS else column
    return f"""coalesce('"' || {value} || '"', 'null')"""


# The body: the canonical JSON array as it reads when every string field is plain ASCII (see
# the module docstring); NULL is `null`, so `num_nulls` says how many quotes there must be.
_BODY_SQL = "'[\"" + FORMAT_TAG + "\",' || " + " || ',' || ".join(
    [_quoted("id"),
     "(extract(epoch FROM occurred_at) * 1000000)::int8::text",
     *[_quoted(c) for c in _STRING_COLUMNS[1:]]]) + " || ']'"
_TAIL_SQL = " || ".join(
    f"octet_length({c}::text)::text || ':' || "
    f"{c}::text" for c in _JSON_COLUMNS)
_NULLS_SQL = f"num_nulls({', '.join(_STRING_COLUMNS)})"
# NULL (so the row takes the general path) unless both hashes have their length: the row is
# split at fixed offsets.
_POSITION_SQL = (f"CASE WHEN octet_length(prev_hash) = {HASH_BYTES} AND octet_length(entry_hash) "
                 f"= {HASH_BYTES} THEN prev_hash || int8send(seq) || int4send(shard) || entry_hash "
                 "END")


def _copy_query(include_unchained: bool, since: datetime | None, until: datetime | None) -> str:
    # Module constants and bound parameters only.
    return (f"COPY (SELECT {_POSITION_SQL}, {_NULLS_SQL}, {_BODY_SQL}, {_TAIL_SQL} "  # noqa: S608
            "FROM audit_entries "
            f"WHERE {_where(include_unchained, since, until)}) TO STDOUT (FORMAT BINARY)")


def _key_of(data: bytes) -> tuple[str, int]:
    """(id, occurred_at in microseconds) of a row whose fast check failed: the table's primary
    key, read from the body (the third field), where both lead in a fixed form (a UUID's text,
    an integer) whatever the fields after them hold."""
    at = 2
    for _ in range(2):  # skip the position and the NULL count, whatever their lengths
        length = _INT4.unpack_from(data, at)[0]
        at += 4 + max(length, 0)
    body = data[at + 4:at + 4 + _INT4.unpack_from(data, at)[0]]
    end = body.index(b",", _MICROS_AT)
    return body[_ID_IN_BODY].decode("ascii"), int(body[_MICROS_AT:end])


def _copy_start(connection: Any, query: str,
                params: dict[str, Any]) -> tuple[Callable[[int], tuple[int, Any]], bytes | None]:
    """Start a binary `COPY ... TO STDOUT` read straight from libpq, one raw row (16-bit field
    count, then per field a 32-bit length and the value) per call of the returned function:
    psycopg's own row parser costs more per row than the whole check that follows. Returns
    that function and the first row (the server sends it with the file header)."""
    import psycopg
    from psycopg import pq

    with psycopg.ClientCursor(connection) as composer:
        composed = composer.mogrify(query, params)
    pgconn = connection.pgconn
    result = pgconn.exec_(composed.encode())
    if result.status != pq.ExecStatus.COPY_OUT:
        raise psycopg.DatabaseError(f"audit verify: COPY refused: {result.get_error_message()}")
    get = pgconn.get_copy_data
    size, view = get(0)
    data = bytes(view)
    if size < 0 or data[:len(_COPY_SIGNATURE)] != _COPY_SIGNATURE:
        raise psycopg.DatabaseError("audit verify: not a binary COPY stream")
    extension = _INT4.unpack_from(data, len(_COPY_SIGNATURE) + 4)[0]
    first = data[len(_COPY_SIGNATURE) + 8 + extension:]
    if len(first) < _BODY_AT:  # no rows: only the trailer
        _check_trailer(first)
        return get, None
    return get, first


def _copy_abandon(connection: Any) -> None:
    """After an error mid-COPY: read the rest of the stream so the connection is usable again
    (the caller's transaction then rolls back as usual)."""
    with contextlib.suppress(Exception):
        while connection.pgconn.get_copy_data(0)[0] >= 0:
            pass
        _copy_finish(connection)


def _check_trailer(data: bytes) -> None:
    if data != _COPY_TRAILER:
        import psycopg

        raise psycopg.DatabaseError("audit verify: unexpected data in the COPY stream")


def _copy_finish(connection: Any) -> None:
    import psycopg
    from psycopg import pq

    pgconn = connection.pgconn
    while (end := pgconn.get_result()) is not None:
        if end.status != pq.ExecStatus.COMMAND_OK:
            raise psycopg.DatabaseError(f"audit verify: COPY failed: {end.get_error_message()}")
