"""`gmail-gateway audit ...`: verify, purge, checkpoint, maintain, signing keys.

    audit verify [--from T] [--to T] [--jobs N] [--json]   exit 0 intact, 1 tampered
    audit purge [--dry-run]                                 retention (≥ 365 days), signed anchor
    audit checkpoint [--now]                                sign chain heads that are due
                                                            (--now: every unsigned head, logged;
                                                            the scheduler sweeps every 2 s)
    audit maintain [--months-ahead N]                       partitions ahead, chain heads
    audit export --out DIR                                  whole log + checkpoints + purge
                                                            anchors + public keys, for
                                                            tools/verify_log.py
    audit init-signing-key | rotate-signing-key             provision / rotate the Ed25519 key

The main CLI (`gateway/cli.py`) calls `add_commands(subparsers, keys_subparsers)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _when(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {raw!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _reported(handler: Handler) -> Handler:
    """Expected failures print one line and exit 2 instead of a traceback."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        from gateway.audit.errors import RetentionTooShort
        from gateway.audit.retention import PurgeRefused
        from gateway.audit.signing import SigningKeyUnavailable

        try:
            return handler(args, settings)
        except (SigningKeyUnavailable, RetentionTooShort, PurgeRefused) as exc:
            print(f"audit {args.audit_command}: {exc}", file=sys.stderr)
            return 2

    return run


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
                 keys: argparse._SubParsersAction[argparse.ArgumentParser] | None = None,
                 *, handler_attr: str = "handler") -> None:
    audit = subparsers.add_parser("audit", help="the operation log: verify, purge, checkpoints")
    sub = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")

    verify = sub.add_parser("verify", help="recompute the hash chains and check signatures")
    verify.add_argument("--from", dest="since", type=_when, help="window start (ISO 8601)")
    verify.add_argument("--to", dest="until", type=_when, help="window end, exclusive")
    verify.add_argument("--jobs", type=int, default=None,
                        help="processes, split by chain (default: one per two CPUs, "
                             "at most one per chain)")
    verify.add_argument("--json", action="store_true", help="print the full report as JSON")
    verify.set_defaults(**{handler_attr: _reported(cmd_verify)})

    purge = sub.add_parser("purge", help="remove entries older than the retention period")
    purge.add_argument("--dry-run", action="store_true", help="count, change nothing")
    purge.set_defaults(**{handler_attr: _reported(cmd_purge)})

    checkpoint = sub.add_parser("checkpoint", help="sign the chain heads that are due")
    checkpoint.add_argument("--now", "--force", dest="now", action="store_true",
                            help="sign every head with unsigned entries now (logged as "
                                 "audit:checkpoint:requested)")
    checkpoint.set_defaults(**{handler_attr: _reported(cmd_checkpoint)})

    maintain = sub.add_parser("maintain", help="create partitions ahead and chain heads")
    maintain.add_argument("--months-ahead", type=int, default=3)
    maintain.set_defaults(**{handler_attr: _reported(cmd_maintain)})

    export = sub.add_parser("export", help="write the whole log, its signed checkpoints and "
                            "the trusted public keys for an independent verifier")
    export.add_argument("--out", required=True, help="a directory (created if needed)")
    export.set_defaults(**{handler_attr: _reported(cmd_export)})

    init = sub.add_parser("init-signing-key", help="provision the Ed25519 signing key file")
    init.set_defaults(**{handler_attr: _reported(cmd_init_key)})
    rotate = sub.add_parser("rotate-signing-key",
                            help="retire the signing key (its public half stays trusted)")
    rotate.set_defaults(**{handler_attr: _reported(cmd_rotate_key)})


def _database(settings: Settings) -> Any:
    from gateway.kit.db import Database

    return Database.from_url(settings.database_url)


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.audit.signing import load_trusted_keys
    from gateway.audit.verify import verify, verify_parallel

    trusted = load_trusted_keys(settings)
    if settings.is_sqlite or args.jobs == 1:
        database = _database(settings)
        try:
            with database.transaction() as session:
                report = verify(session, trusted, since=args.since, until=args.until)
        finally:
            database.dispose()
    else:  # `--jobs N`, or by default as many as help (`default_jobs`: one on two CPUs)
        report = verify_parallel(settings.database_url, trusted, jobs=args.jobs,
                                 since=args.since, until=args.until)
    data = report.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        scope = "whole log" if not (args.since or args.until) else \
            f"window {args.since or '…'} → {args.until or '…'}"
        print(f"{scope}: {report.entries} entries in {report.shards} chains, "
              f"{report.checkpoints} checkpoints, {report.anchors} anchors, "
              f"{report.seconds:.2f}s ({report.rate:,.0f} entries/s)")
        tail = data["unsigned_tail"]
        print(f"unsigned tail: {tail['entries']} entries in {tail['chains']} chains not yet "
              f"covered by a signed checkpoint"
              + (f", the oldest {tail['age_seconds']:.1f}s old ({tail['oldest_at']})"
                 if tail["entries"] else ""))
        first = report.first
        if first is None:
            print("OK: every chain verifies")
        else:
            print(f"TAMPERED: first bad entry: shard {first.shard} seq {first.seq} "
                  f"id {first.entry_id or '-'}: {first.kind}: {first.detail}")
            for problem in sorted(report.problems)[1:20]:
                print(f"  also: shard {problem.shard} seq {problem.seq} "
                      f"id {problem.entry_id or '-'}: {problem.kind}")
    return 0 if report.ok else 1


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.audit.periodic import purge_log

    database = _database(settings)
    try:
        report = purge_log(database, settings, dry_run=args.dry_run)
    finally:
        database.dispose()
    print(json.dumps(report.to_dict(), indent=2))
    return 0


def _sweep(settings: Settings, now: bool) -> int:
    from gateway.audit.chain import CheckpointPolicy
    from gateway.audit.checkpoints import sign_now
    from gateway.audit.signing import load_signer

    policy = CheckpointPolicy(load_signer(settings), every=settings.audit_checkpoint_every,
                              seconds=settings.audit_checkpoint_seconds)
    database = _database(settings)
    try:
        with database.transaction() as session:
            if now:
                return sign_now(session, policy, requested_by="system:audit-cli")
            from gateway.audit.chain import checkpoint_due_shards

            signed: int = checkpoint_due_shards(session, policy)
            return signed
    finally:
        database.dispose()


def cmd_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    """One sweep by hand; the scheduler's `audit-checkpoint` job sweeps every 2 s."""
    print(f"signed {_sweep(settings, args.now)} checkpoint(s)")
    return 0


def cmd_maintain(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.audit.periodic import maintain_log

    database = _database(settings)
    try:
        report = maintain_log(database, settings, months_ahead=args.months_ahead)
    finally:
        database.dispose()
    print(json.dumps(report))
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization

    from gateway.audit import repository
    from gateway.audit.schemas import AuditEntryOut, CheckpointOut
    from gateway.audit.signing import load_trusted_keys

    out = Path(args.out)
    (out / "keys").mkdir(parents=True, exist_ok=True)
    counts = {"entries": 0, "checkpoints": 0}
    database = _database(settings)
    try:
        with database.transaction() as session, \
                (out / "entries.jsonl").open("w", encoding="utf-8") as entries:
            for entry in repository.whole_log(session):
                entries.write(AuditEntryOut.of(entry).model_dump_json() + "\n")
                counts["entries"] += 1
        with database.transaction() as session, \
                (out / "checkpoints.jsonl").open("w", encoding="utf-8") as checkpoints:
            for cp in repository.checkpoints(session):
                checkpoints.write(CheckpointOut.of(cp).model_dump_json() + "\n")
                counts["checkpoints"] += 1
        counts["anchors"] = _export_anchors(database, out / "anchors.jsonl")
    finally:
        database.dispose()
    trusted = load_trusted_keys(settings)
    for key_id, raw in zip(trusted.key_ids, trusted.public_bytes(), strict=True):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        pem = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        (out / "keys" / f"{key_id}.pub.pem").write_bytes(pem)
    print(json.dumps({**counts, "out": str(out), "key_ids": trusted.key_ids}))
    return 0


def _export_anchors(database: Any, path: Any) -> int:
    """The retention purge's signed anchors: `fields` is what the signature covers
    (`signed_message("anchor", fields)`), so an export whose chains start after position 1
    shows which positions were purged."""
    from sqlalchemy import select

    from gateway.audit.models import AuditAnchor
    from gateway.audit.retention import anchor_fields

    written = 0
    with database.transaction() as session, path.open("w", encoding="utf-8") as anchors:
        for anchor in session.scalars(select(AuditAnchor).order_by(AuditAnchor.created_at)):
            anchors.write(json.dumps({"fields": anchor_fields(anchor),
                                      "signature": anchor.signature.hex()},
                                     sort_keys=True) + "\n")
            written += 1
    return written


def cmd_init_key(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.audit.signing import signing_key_path, write_signing_key

    path = signing_key_path(settings)
    try:
        signer = write_signing_key(path)
    except FileExistsError:
        print(f"audit init-signing-key: {path} exists; refusing to replace it", file=sys.stderr)
        return 1
    print(json.dumps({"key_file": str(path), "key_id": signer.key_id}))
    return 0


def cmd_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.audit.signing import SigningKeyUnavailable, rotate_signing_key

    try:
        old, new = rotate_signing_key(settings)
    except SigningKeyUnavailable as exc:
        print(f"audit rotate-signing-key: {exc}", file=sys.stderr)
        return 1
    from gateway.audit.operations import Operation
    from gateway.audit.writer import log_system_operation

    database = _database(settings)
    try:
        with database.transaction() as session:
            log_system_operation(session, Operation.audit_signing_key_rotated,
                                 job="audit-signing-key", purpose="security",
                                 action="keys.rotate", resource_type="audit_signing_key",
                                 resource_ids=(old, new))
    finally:
        database.dispose()
    print(json.dumps({"retired_key_id": old, "key_id": new}))
    return 0
