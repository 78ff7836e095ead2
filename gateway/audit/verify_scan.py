"""The row scan of `audit verify`: read every entry of the wanted chains, recompute its hash in
Python, and file it into its chain's arrays (`Chain`) for the link checks that follow.

Two readers, one result:

- **PostgreSQL through psycopg**: a server-side cursor fetching 20,000 rows at a time in
  binary format, text and JSON columns as their raw UTF-8 bytes, `occurred_at` as its
  8-byte wire value (integer microseconds since 2000-01-01), all loaded in C. The
  canonical content (`gateway.audit.canonical`) is then assembled from those bytes: a JSON
  string whose bytes are printable ASCII other than `"` and `\\` encodes as itself between
  quotes, which is what `json.dumps(..., ensure_ascii=True)` produces for it. A row with any
  other byte in a text field takes the general encoder (`content_bytes_from_row`), so the
  bytes hashed are the same either way; a test holds both paths to the same result.
- **anything else** (SQLite): SQLAlchemy rows and `content_bytes_from_row`.

Nothing here trusts a hash or an encoding computed by the database: the server sends stored
values (UUIDs as their text form), Python builds the canonical bytes and hashes them.
"""

from __future__ import annotations

import hashlib
import operator
import struct
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, cast, or_, select
from sqlalchemy.orm import Session

from gateway.audit.canonical import CONTENT_COLUMNS, content_bytes_from_row, from_micros
from gateway.audit.models import ENTRIES, HASH_BYTES
from gateway.audit.retention import AnchorState
from gateway.audit.verify_report import Chain, Problem, VerifyReport

_E = ENTRIES
WINDOW_MARGIN = timedelta(hours=1)
_SCAN_BATCH = 5000
_PG_BATCH = 20000
_AS_TEXT = frozenset({"id", "tenant_id", "mailbox_id", "resource_ids", "reasons", "detail"})
_UUIDS = frozenset({"id", "tenant_id", "mailbox_id"})
# Column positions in a fetched row: shard, seq, prev_hash, entry_hash, then CONTENT_COLUMNS.
_OFFSET = 4
_JSON_AT = tuple(_OFFSET + CONTENT_COLUMNS.index(c) for c in ("resource_ids", "reasons", "detail"))
_STRINGS_AT = tuple(_OFFSET + i for i, c in enumerate(CONTENT_COLUMNS)
                    if c not in {"occurred_at", "resource_ids", "reasons", "detail"})
_strings = operator.itemgetter(*_STRINGS_AT)
_json_columns = operator.itemgetter(*_JSON_AT)
_OCCURRED_AT = _OFFSET + CONTENT_COLUMNS.index("occurred_at")
_ID_AT = _OFFSET
# Bytes that encode as themselves in a JSON string: printable ASCII but the backslash (quotes
# are counted instead), and the NUL that stands for a NULL field.
_SAFE = bytes([0, *(b for b in range(0x20, 0x7F) if b != 0x5C)])
_NUL, _NUL_FIELD = b"\x00", b'"\x00"'
_QUOTES = 2 * len(_STRINGS_AT)  # two per field: any other quote is in a value
_ID_QUOTED = 38  # the entry id comes first: 36 characters between quotes
_POSITION = struct.Struct(">qi")
_INT8 = struct.Struct(">q")
_PG_EPOCH_MICROS = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970-01-01
_sha256 = hashlib.sha256


def scan(session: Session, chains: dict[int, Chain], base: AnchorState,
         report: VerifyReport, *, since: datetime | None, until: datetime | None,
         windowed: bool, include_unchained: bool) -> int:
    """Check every row of `chains` (and, with `include_unchained`, every unchained row);
    returns the number of entries hashed."""
    connection = session.connection()
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        return _scan_psycopg(connection.connection.dbapi_connection, chains, base, report,
                             since=since, until=until, windowed=windowed,
                             include_unchained=include_unchained)
    return _scan_sqlalchemy(session, chains, base, report, since=since, until=until,
                            windowed=windowed, include_unchained=include_unchained)


def _file(chains: dict[int, Chain], base: AnchorState, report: VerifyReport, windowed: bool,
          shard: int | None, seq: int | None, prev: bytes | None, stored: bytes | None,
          entry_id: str, content: bytes) -> bool:
    """Check one row and store it in its chain; True if it counted as a hashed entry."""
    if seq is None or shard is None or prev is None or stored is None:
        report.add(Problem(shard if shard is not None else -1, -1, "unchained", entry_id,
                           "committed without a chain position (written around the log)"))
        return False
    chain = chains.get(shard)
    if chain is None:
        return False
    if not chain.lo <= seq <= chain.hi:
        if not windowed:
            kind = "below_anchor" if seq <= base.through(shard) else "beyond_head"
            report.add(Problem(shard, seq, kind, entry_id,
                               "an entry outside the chain's signed range (inserted)"))
        return False
    if _sha256(prev + _POSITION.pack(seq, shard) + content).digest() != stored:
        report.add(Problem(shard, seq, "altered", entry_id,
                           "the stored fields do not hash to the stored entry hash"))
    i = seq - chain.lo
    if chain.present[i]:
        report.add(Problem(shard, seq, "duplicate", entry_id,
                           "two entries claim this position (one was inserted)"))
        return True
    chain.present[i] = 1
    chain.entry_hash[i * HASH_BYTES:(i + 1) * HASH_BYTES] = stored
    chain.prev_hash[i * HASH_BYTES:(i + 1) * HASH_BYTES] = prev
    return True


# --- PostgreSQL / psycopg -----------------------------------------------------------------------

def _pg_query(include_unchained: bool, since: datetime | None, until: datetime | None) -> str:
    columns = ["shard", "seq", "prev_hash", "entry_hash"] + [
        f"{c}::text" if c in _UUIDS else c for c in CONTENT_COLUMNS]
    where = "shard = ANY(%(shards)s)"
    if include_unchained:
        where = f"({where} OR seq IS NULL)"
    if since is not None:
        where += " AND occurred_at >= %(since)s"
    if until is not None:
        where += " AND occurred_at < %(until)s"
    return f"SELECT {', '.join(columns)} FROM audit_entries WHERE {where}"  # noqa: S608


def _content_from_bytes(row: Any) -> bytes:
    """The canonical content of a row fetched as bytes (see the module docstring). NULLs go in
    as a NUL byte (PostgreSQL text never holds one) and come out as `null`."""
    strings = _strings(row)
    if None in strings:
        strings = [_NUL if s is None else s for s in strings]
    body = b'"' + b'","'.join(strings) + b'"'
    if (body.translate(None, _SAFE) or body.count(b'"') != _QUOTES
            or len(strings[0]) != _ID_QUOTED - 2):
        return _content_general(row)
    resource_ids, reasons, detail = _json_columns(row)
    return b'["audit/v1",%b,%d,%b]%d:%b%d:%b%d:%b' % (
        body[:_ID_QUOTED], _micros(row[_OCCURRED_AT]),
        body[_ID_QUOTED + 1:].replace(_NUL_FIELD, b"null"),
        len(resource_ids), resource_ids, len(reasons), reasons, len(detail), detail)


def _micros(wire: bytes) -> int:
    """A binary timestamptz: signed 64-bit microseconds since 2000-01-01 UTC."""
    value: int = _INT8.unpack(wire)[0] + _PG_EPOCH_MICROS
    return value


def _content_general(row: Any) -> bytes:
    values: list[Any] = []
    for offset, name in enumerate(CONTENT_COLUMNS):
        value = row[_OFFSET + offset]
        if name == "occurred_at":
            values.append(from_micros(_micros(value)))
        else:
            values.append(value.decode("utf-8") if value is not None else None)
    return content_bytes_from_row(values)


def _scan_psycopg(dbapi_connection: Any, chains: dict[int, Chain], base: AnchorState,
                  report: VerifyReport, *, since: datetime | None, until: datetime | None,
                  windowed: bool, include_unchained: bool) -> int:
    import psycopg
    from psycopg.types.string import ByteaBinaryLoader

    connection: psycopg.Connection[Any] = dbapi_connection
    params = {"shards": sorted(chains),
              "since": since - WINDOW_MARGIN if since is not None else None,
              "until": until + WINDOW_MARGIN if until is not None else None}
    count = 0
    with connection.cursor(name="gateway_audit_verify", binary=True) as cursor:
        # Raw bytes, loaded in C: text as UTF-8, json as its text, timestamptz as its 8-byte
        # microseconds since 2000-01-01 (decoded by `_content_from_bytes`).
        for type_name in ("text", "varchar", "json", "timestamptz"):
            cursor.adapters.register_loader(type_name, ByteaBinaryLoader)
        cursor.execute(_pg_query(include_unchained, since, until), params)
        content_of, chain_of, pack = _content_from_bytes, chains.get, _POSITION.pack
        while rows := cursor.fetchmany(_PG_BATCH):
            for row in rows:
                shard, seq, prev, stored = row[0], row[1], row[2], row[3]
                content = content_of(row)
                chain = chain_of(shard)
                # The usual case inline: an intact entry at a free position of its chain.
                if chain is not None and seq is not None and prev is not None:
                    i = seq - chain.lo
                    if (0 <= i <= chain.hi - chain.lo and not chain.present[i]
                            and _sha256(prev + pack(seq, shard) + content).digest() == stored):
                        chain.present[i] = 1
                        chain.entry_hash[i * HASH_BYTES:(i + 1) * HASH_BYTES] = stored
                        chain.prev_hash[i * HASH_BYTES:(i + 1) * HASH_BYTES] = prev
                        count += 1
                        continue
                # Anything else: the general check names the problem.
                if _file(chains, base, report, windowed, shard, seq, prev, stored,
                         row[_ID_AT].decode("ascii"), content):
                    count += 1
    return count


# --- SQLAlchemy (SQLite) ------------------------------------------------------------------------

def _scan_sqlalchemy(session: Session, chains: dict[int, Chain], base: AnchorState,
                     report: VerifyReport, *, since: datetime | None, until: datetime | None,
                     windowed: bool, include_unchained: bool) -> int:
    shard_filter: ColumnElement[bool] = _E.c.shard.in_(sorted(chains))
    if include_unchained:
        shard_filter = or_(shard_filter, _E.c.seq.is_(None))
    conditions: list[ColumnElement[bool]] = [shard_filter]
    if since is not None:
        conditions.append(_E.c.occurred_at >= since - WINDOW_MARGIN)
    if until is not None:
        conditions.append(_E.c.occurred_at < until + WINDOW_MARGIN)
    # UUIDs and JSON as their stored text: cheaper to read, and hashed exactly as stored.
    columns = [_E.c.shard, _E.c.seq, _E.c.prev_hash, _E.c.entry_hash,
               *[cast(_E.c[name], Text) if name in _AS_TEXT else _E.c[name]
                 for name in CONTENT_COLUMNS]]
    query = select(*columns).where(and_(*conditions))
    connection = session.connection().execution_options(stream_results=True,
                                                         yield_per=_SCAN_BATCH)
    count = 0
    for row in connection.execute(query):
        prev, stored = row[2], row[3]
        if _file(chains, base, report, windowed, row[0], row[1],
                 bytes(prev) if prev is not None else None,
                 bytes(stored) if stored is not None else None,
                 str(row[4]), content_bytes_from_row(row[4:])):
            count += 1
    return count
