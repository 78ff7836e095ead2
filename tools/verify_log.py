#!/usr/bin/env python3
"""Verify an export of the gateway's operation log without the gateway's code.

Stand-alone: the Python standard library and `cryptography` (for Ed25519) only; it imports
nothing from `gateway/`. It implements docs/audit.md §3 ("The exact format") from the text:

    python tools/verify_log.py ENTRIES.jsonl --checkpoints CHECKPOINTS.jsonl \
        --key audit-signing.ed25519.pub.pem [--key retired.pub.pem ...] [--partial] [--json]

ENTRIES.jsonl is `gmail-gateway audit export` (or `GET /v1/audit/entries/export`), one entry a
line, any order; CHECKPOINTS.jsonl the signed checkpoints (`gmail-gateway audit export`, or
`GET /v1/audit/checkpoints`). `--key` names the trusted Ed25519 public keys (PEM), obtained
from the operator out of band, never from the export. `--partial` accepts chains that do not
start at position 1 or have gaps (an export of one tenant, or after a purge): every entry's
own hash and every link between adjacent positions present are still checked.

With `--report DIR` (a `gmail-gateway compliance report` directory, docs/compliance.md) it
also checks the report's Ed25519 signature (`signature.json`, with the same `--key`s) and the
SHA-256 of each file it covers, and derives again from ENTRIES.jsonl, over the report's tenant
and period, the report's headline figures (entries, decisions, prohibited purposes, human
access, aggregates, exports, restrictions, erasures, key events), naming each that differs.

Exit status: 0 every check passed, 1 a problem was found, 2 the input could not be read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT_TAG = "audit/v1"
GENESIS = bytes(32)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The string fields, in the order the content array holds them after the tag, id and time.
STRING_FIELDS = ("request_id", "tenant_id", "mailbox_id", "actor_kind", "actor_id",
                 "connection_id", "client_ip", "user_agent", "device_id", "protocol",
                 "upstream_protocol", "operation", "action", "purpose", "resource_type",
                 "decision", "policy_revision")
JSON_FIELDS = ("resource_ids", "reasons", "detail")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def micros(iso: str) -> int:
    when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def content_bytes(entry: dict[str, Any]) -> bytes:
    """The canonical content: a JSON array, then each JSON column as `<length>:<text>`."""
    head = [FORMAT_TAG, entry["id"], micros(entry["occurred_at"])]
    head += [entry[name] for name in STRING_FIELDS]
    data = canonical_json(head).encode("ascii")
    for name in JSON_FIELDS:
        text = canonical_json(entry[name]).encode("utf-8")
        data += str(len(text)).encode("ascii") + b":" + text
    return data


def entry_hash(prev_hash: bytes, seq: int, shard: int, content: bytes) -> bytes:
    return hashlib.sha256(prev_hash + struct.pack(">qi", seq, shard) + content).digest()


def checkpoint_message(cp: dict[str, Any]) -> bytes:
    fields = {"shard": cp["shard"], "seq": cp["seq"], "entry_hash": cp["entry_hash"],
              "signed_at": cp["signed_at_us"], "key_id": cp["key_id"]}
    return b"gmail-gateway/audit/checkpoint/v1\n" + canonical_json(fields).encode("ascii")


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(order=True)
class Problem:
    shard: int
    seq: int
    kind: str
    detail: str = field(compare=False)


@dataclass
class Report:
    entries: int = 0
    chains: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)
    unsigned: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, shard: int, seq: int, kind: str, detail: str) -> None:
        self.problems.append(Problem(shard, seq, kind, detail))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": not self.problems, "entries": self.entries, "chains": self.chains,
                "checkpoints": self.checkpoints,
                "problems": [p.__dict__ for p in sorted(self.problems)],
                "unsigned_tail": {str(s): t for s, t in sorted(self.unsigned.items())}}


def _load_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
    return rows


def _check_entries(entries: list[dict[str, Any]], report: Report
                   ) -> dict[int, dict[int, dict[str, Any]]]:
    chains: dict[int, dict[int, dict[str, Any]]] = {}
    for entry in entries:
        report.entries += 1
        shard, seq = entry.get("shard"), entry.get("seq")
        if shard is None or seq is None:
            report.add(-1, -1, "unchained", f"entry {entry.get('id')} has no chain position")
            continue
        try:
            prev = bytes.fromhex(entry["prev_hash"])
            stored = bytes.fromhex(entry["entry_hash"])
            computed = entry_hash(prev, seq, shard, content_bytes(entry))
        except (KeyError, TypeError, ValueError) as exc:
            report.add(shard, seq, "malformed", f"entry {entry.get('id')}: {exc!r}")
            continue
        if computed != stored:
            report.add(shard, seq, "altered", f"entry {entry['id']}: hash does not match "
                       "its fields, position and predecessor")
        if seq in chains.setdefault(shard, {}):
            report.add(shard, seq, "duplicate", f"two entries at shard {shard} seq {seq}")
            continue
        chains[shard][seq] = entry
    return chains


def _check_links(chains: dict[int, dict[int, dict[str, Any]]], partial: bool,
                 report: Report) -> None:
    for shard, chain in chains.items():
        report.chains += 1
        positions = sorted(chain)
        expected_prev = GENESIS.hex() if not partial else None
        expected_seq = 1 if not partial else positions[0]
        for seq in positions:
            entry = chain[seq]
            if seq != expected_seq:
                if not partial:
                    report.add(shard, expected_seq, "missing",
                               f"positions {expected_seq}..{seq - 1} are absent")
                expected_prev = None  # nothing to compare across a gap
            if expected_prev is not None and entry["prev_hash"] != expected_prev:
                report.add(shard, seq, "link_broken",
                           f"entry {entry['id']} does not link to its predecessor")
            expected_prev, expected_seq = entry["entry_hash"], seq + 1


def _check_checkpoints(checkpoints: list[dict[str, Any]], keys: dict[str, Ed25519PublicKey],
                       chains: dict[int, dict[int, dict[str, Any]]], partial: bool,
                       report: Report) -> dict[int, int]:
    signed_to: dict[int, int] = {}
    for cp in checkpoints:
        report.checkpoints += 1
        shard, seq = int(cp["shard"]), int(cp["seq"])
        key = keys.get(cp.get("key_id", ""))
        try:
            if key is None:
                raise InvalidSignature
            key.verify(bytes.fromhex(cp["signature"]), checkpoint_message(cp))
        except (InvalidSignature, KeyError, ValueError):
            report.add(shard, seq, "checkpoint_signature_invalid",
                       f"checkpoint at shard {shard} seq {seq} (key {cp.get('key_id')}) "
                       "is not signed by a trusted key")
            continue
        entry = chains.get(shard, {}).get(seq)
        last = max(chains.get(shard, {0: None}))
        if entry is None:
            if seq > last:
                report.add(shard, seq, "tail_missing", f"a signed checkpoint names seq {seq}; "
                           f"the chain ends at {last}")
            elif not partial:
                report.add(shard, seq, "missing", f"the checkpointed entry at {seq} is absent")
        elif entry["entry_hash"] != cp["entry_hash"]:
            report.add(shard, seq, "checkpoint_mismatch",
                       f"the chain's hash at seq {seq} differs from the signed one")
        signed_to[shard] = max(signed_to.get(shard, 0), seq)
    return signed_to


def verify(entries: list[dict[str, Any]], checkpoints: list[dict[str, Any]],
           keys: list[Ed25519PublicKey], *, partial: bool = False,
           now: datetime | None = None) -> Report:
    report = Report()
    chains = _check_entries(entries, report)
    _check_links(chains, partial, report)
    signed_to = _check_checkpoints(checkpoints, {key_id(k): k for k in keys}, chains, partial,
                                   report)
    now_us = micros((now or datetime.now(UTC)).isoformat())
    for shard, chain in chains.items():
        tail = [chain[s] for s in chain if s > signed_to.get(shard, 0)]
        if tail:
            oldest = min(micros(e["occurred_at"]) for e in tail)
            report.unsigned[shard] = {"entries": len(tail),
                                      "oldest_age_seconds": round((now_us - oldest) / 1e6, 3)}
    return report


# --- a compliance report (docs/compliance.md) -----------------------------------------------------

PROHIBITED = ("advertising", "retargeting", "personalised_ads", "ad_platform_transfer",
              "data_sale", "data_broker_transfer", "credit_scoring", "lending", "ai_training",
              "ai_model_improvement")
RIGHTS = {"exports": ("data.export",), "restrictions": ("data.restrict",),
          "erasures": ("oauth.disconnect", "data.delete")}
KEY_OPERATIONS = ("keys:kek:rotated", "keys:data_key:shredded", "audit:signing_key:rotated",
                  "audit:log:purged", "audit:checkpoint:requested")


def _count(into: dict[str, int], key: str) -> None:
    into[key] = into.get(key, 0) + 1


def report_figures(entries: list[dict[str, Any]], scope: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a report, over its scope: the tenant's entries and those of no
    tenant, `from <= occurred_at < until_effective`."""
    since, until = micros(scope["from"]), micros(scope["until_effective"])
    tenant = scope.get("tenant_id")
    out: dict[str, Any] = {"entries": 0, "by_decision": {}, "prohibited_by_purpose": {},
                           "human_by_basis": {}, "aggregates_served": 0,
                           "key_events": {}, **dict.fromkeys(RIGHTS, 0)}
    for e in entries:
        if not since <= micros(e["occurred_at"]) < until:
            continue
        if tenant is not None and e.get("tenant_id") not in (None, tenant):
            continue
        out["entries"] += 1
        _count(out["by_decision"], e["decision"])
        if e["purpose"] in PROHIBITED:
            _count(out["prohibited_by_purpose"], f"{e['purpose']}:{e['decision']}")
        allowed = e["decision"] == "allow"
        if allowed and e["actor_kind"] == "operator" and e["action"].startswith("mail."):
            detail = e.get("detail") or {}
            basis = ("grant" if detail.get("grant_id") else
                     (detail.get("justification") or {}).get("kind") or ",".join(e["reasons"]))
            _count(out["human_by_basis"], basis)
        out["aggregates_served"] += allowed and e["action"] == "analytics.aggregate"
        for name, actions in RIGHTS.items():
            out[name] += allowed and e["action"] in actions
        if e["operation"] in KEY_OPERATIONS:
            _count(out["key_events"], e["operation"])
    return out


def stated_figures(figures: dict[str, Any]) -> dict[str, Any]:
    """The same headline figures, as report.json states them."""
    return {"entries": figures["entries"], "by_decision": figures["by_decision"],
            "prohibited_by_purpose": figures["prohibited"]["by_purpose"],
            "human_by_basis": figures["human_access"]["by_basis"],
            "aggregates_served": figures["aggregates"]["served"],
            "key_events": figures["key_events"]["by_operation"],
            **{name: figures[name]["allowed"] for name in RIGHTS}}


def check_report(directory: Path, entries: list[dict[str, Any]],
                 keys: list[Ed25519PublicKey]) -> list[str]:
    signature = json.loads((directory / "signature.json").read_text(encoding="utf-8"))
    files, signer = dict(signature["files"]), str(signature["key_id"])
    message = b"gmail-gateway/audit/compliance-report/v1\n" + canonical_json(
        {"files": files, "key_id": signer}).encode("ascii")
    problems = []
    key = {key_id(k): k for k in keys}.get(signer)
    try:
        if key is None:
            raise InvalidSignature
        key.verify(bytes.fromhex(signature["signature"]), message)
    except (InvalidSignature, ValueError):
        problems.append(f"report: not signed by a trusted key (key {signer})")
    for name, digest in sorted(files.items()):
        path = directory / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"report: {name} is missing or changed after signing")
    report = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    stated = stated_figures(report["figures"])
    derived = report_figures(entries, report["scope"])
    for name in sorted(stated):
        if canonical_json(stated[name]) != canonical_json(derived[name]):
            problems.append(f"report: {name} is {canonical_json(stated[name])} in the report, "
                            f"{canonical_json(derived[name])} in the log")
    return problems


def _load_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entries", type=Path, help="the entries, JSON Lines")
    parser.add_argument("--checkpoints", type=Path, required=True,
                        help="the signed checkpoints, JSON Lines")
    parser.add_argument("--key", type=Path, action="append", required=True,
                        help="a trusted Ed25519 public key (PEM); repeat for retired keys")
    parser.add_argument("--partial", action="store_true",
                        help="accept chains that start after 1 or have gaps")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--report", type=Path,
                        help="a compliance report directory to check against the entries")
    args = parser.parse_args(argv)
    try:
        entries = _load_jsonl(args.entries)
        keys = [_load_key(k) for k in args.key]
        report = verify(entries, _load_jsonl(args.checkpoints), keys, partial=args.partial)
        if args.report is not None:
            for problem in check_report(args.report, entries, keys):
                report.add(-1, -1, "report", problem)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"verify_log: {exc}", file=sys.stderr)
        return 2
    data = report.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"{report.entries} entries in {report.chains} chains, "
              f"{report.checkpoints} checkpoints")
        for shard, tail in data["unsigned_tail"].items():
            print(f"unsigned tail: shard {shard}: {tail['entries']} entries, oldest "
                  f"{tail['oldest_age_seconds']} s old")
        for problem in data["problems"][:50]:
            print(f"PROBLEM shard {problem['shard']} seq {problem['seq']}: "
                  f"{problem['kind']}: {problem['detail']}")
        print("OK" if report.to_dict()["ok"] else "TAMPERED")
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
