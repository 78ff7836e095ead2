"""Checks a log export (`gmail-gateway audit export`) before figures are re-derived from it:
every entry's hash from its fields, the links between adjacent positions, and every checkpoint's
signature and hash (docs/audit.md §3). A chain starts at position 1, or after the position the
latest signed purge anchor (`anchors.jsonl`) names; a missing position is a problem."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from gateway.audit.canonical import (
    CONTENT_COLUMNS,
    content_bytes_from_row,
    link_hash,
    signed_message,
)
from gateway.audit.retention import AnchorState, anchor_state
from gateway.audit.signing import TrustedKeys

MAX_PROBLEMS = 20


def _entry_problem(entry: Mapping[str, Any]) -> tuple[int, int, bytes, bytes] | str:
    shard, seq = entry.get("shard"), entry.get("seq")
    if shard is None or seq is None:
        return f"entry {entry.get('id')} has no chain position"
    try:
        values = dict(entry)
        values["occurred_at"] = datetime.fromisoformat(
            str(entry["occurred_at"]).replace("Z", "+00:00"))
        prev = bytes.fromhex(entry["prev_hash"])
        stored = bytes.fromhex(entry["entry_hash"])
        computed = link_hash(prev, int(seq), int(shard),
                             content_bytes_from_row([values[c] for c in CONTENT_COLUMNS]))
    except (KeyError, TypeError, ValueError) as exc:
        return f"entry {entry.get('id')} is malformed: {type(exc).__name__}"
    if computed != stored:
        return (f"entry {entry['id']} (shard {shard} seq {seq}) does not match its hash: "
                "altered")
    return int(shard), int(seq), prev, stored


def _anchor_base(anchors: Iterable[Mapping[str, Any]], trusted: TrustedKeys,
                 problems: list[str]) -> AnchorState:
    """The latest validly signed purge anchor: where each chain may start."""
    base = AnchorState()
    for anchor in anchors:
        try:
            fields = dict(anchor["fields"])
            ok = trusted.verify(str(fields["key_id"]), signed_message("anchor", fields),
                                bytes.fromhex(anchor["signature"]))
            state = anchor_state(fields["shards"])
        except (KeyError, TypeError, ValueError):
            problems.append("a purge anchor is malformed")
            continue
        if not ok:
            problems.append(f"purge anchor {fields.get('id')} is not signed by a trusted key")
            continue
        base = state
    return base


def check_export(entries: Iterable[Mapping[str, Any]], checkpoints: Iterable[Mapping[str, Any]],
                 trusted: TrustedKeys, anchors: Iterable[Mapping[str, Any]] = ()) -> list[str]:
    problems: list[str] = []
    base = _anchor_base(anchors, trusted, problems)
    chains: dict[int, dict[int, tuple[bytes, bytes]]] = {}
    for entry in entries:
        checked = _entry_problem(entry)
        if isinstance(checked, str):
            problems.append(checked)
            continue
        shard, seq, prev, stored = checked
        if seq in chains.setdefault(shard, {}):
            problems.append(f"two entries at shard {shard} seq {seq}")
        chains[shard][seq] = (prev, stored)
    for shard, chain in sorted(chains.items()):
        holes = base.holes(shard)
        expected: bytes | None = base.through_hash(shard)
        for seq in range(base.through(shard) + 1, max(chain) + 1):
            if seq not in chain:
                if seq in holes:  # purged out of order; the anchor signed its hash
                    expected = holes[seq]
                    continue
                problems.append(f"shard {shard}: the entry at seq {seq} is missing")
                expected = None
                continue
            prev, stored = chain[seq]
            if expected is not None and prev != expected:
                problems.append(f"shard {shard} seq {seq} does not link to its predecessor")
            expected = stored
    for cp in checkpoints:
        try:
            shard, seq = int(cp["shard"]), int(cp["seq"])
            fields = {"shard": shard, "seq": seq, "entry_hash": cp["entry_hash"],
                      "signed_at": int(cp["signed_at_us"]), "key_id": cp["key_id"]}
            ok = trusted.verify(str(cp["key_id"]), signed_message("checkpoint", fields),
                                bytes.fromhex(cp["signature"]))
        except (KeyError, TypeError, ValueError):
            problems.append("a checkpoint is malformed")
            continue
        if not ok:
            problems.append(f"checkpoint shard {shard} seq {seq} is not signed by a trusted key")
            continue
        chain = chains.get(shard, {})
        if seq in chain:
            if chain[seq][1].hex() != cp["entry_hash"]:
                problems.append(f"shard {shard} seq {seq} differs from its signed checkpoint")
        elif seq > max(chain, default=0):
            problems.append(f"shard {shard}: a checkpoint signs seq {seq}, the export ends at "
                            f"{max(chain, default=0)}: entries at the end are missing")
    return problems[:MAX_PROBLEMS]
