"""`gmail-gateway kek ...`: rotate, list and retire key-encryption-key (KEK) versions, and
provision the local key file. (API keys are `gmail-gateway api-keys`, gateway/accounts/cli.py.)

The main CLI (`gateway/cli.py`) calls `add_commands(subparsers)`; each handler takes
`(args, settings)`, builds what it needs (engine, key provider) and returns an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from gateway.crypto.errors import CryptoError
from gateway.crypto.keyprovider import ORIGIN_PROVISIONED, write_new_key_file
from gateway.crypto.service import CryptoService
from gateway.kit.db import make_engine
from gateway.settings import KeyProviderKind, Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def add_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    handler_attr: str = "handler",
) -> None:
    """Register `kek rotate|list-versions|retire|init-key-file`; sets `args.<handler_attr>`."""
    sub = subparsers.add_parser(
        "kek", help="key-encryption keys: rotate, list versions, retire, init the key file"
    ).add_subparsers(dest="kek_command", required=True, metavar="COMMAND")

    rotate = sub.add_parser(
        "rotate", help="add a key-encryption-key version and re-wrap every data key, online")
    rotate.add_argument("--batch-size", type=int, default=200)
    rotate.add_argument("--resume", action="store_true",
                        help="finish re-wrapping onto the current version without adding one")
    rotate.set_defaults(**{handler_attr: cmd_rotate})

    listing = sub.add_parser("list-versions", help="KEK versions and how many data keys use each")
    listing.set_defaults(**{handler_attr: cmd_list_versions})

    retire = sub.add_parser("retire", help="destroy a KEK version that no data key uses any more")
    retire.add_argument("version", type=int)
    retire.set_defaults(**{handler_attr: cmd_retire})

    init = sub.add_parser("init-key-file",
                          help="provision a local key file deliberately (for production)")
    init.add_argument("--key-file", type=Path, default=None,
                      help="where to write it (default: GATEWAY_KEY_FILE)")
    init.set_defaults(**{handler_attr: cmd_init})


def _service_and_sessions(settings: Settings) -> tuple[CryptoService, sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    return CryptoService.from_settings(settings), sessionmaker(engine, expire_on_commit=False)


def cmd_rotate(args: argparse.Namespace, settings: Settings) -> int:
    try:
        service, sessions = _service_and_sessions(settings)
        if args.resume:
            report = service.resume_rotation(sessions, batch_size=args.batch_size)
        else:
            report = service.rotate(sessions, batch_size=args.batch_size)
    except CryptoError as exc:
        print(f"kek rotate: {exc}", file=sys.stderr)
        return 1
    _log_rotation(sessions, report)
    print(f"primary KEK version: {report.new_version}")
    print(f"data keys re-wrapped: {report.rewrapped}")
    print(f"still on older versions: {report.remaining}")
    for key_id in report.failed:
        print(f"FAILED to re-wrap data key {key_id}", file=sys.stderr)
    return 1 if report.failed or report.remaining else 0


def _log_rotation(sessions: sessionmaker[Session], report: Any) -> None:
    """The rotation in the operation log (`keys:kek:rotated`): versions and counts only."""
    from gateway.audit.operations import Operation
    from gateway.audit.writer import log_system_operation

    with sessions() as session, session.begin():
        log_system_operation(session, Operation.keys_kek_rotated, job="key-rotation",
                             purpose="security", action="keys.rotate", resource_type="kek",
                             detail={"version": report.new_version,
                                     "rewrapped": report.rewrapped,
                                     "remaining": report.remaining,
                                     "failed": len(report.failed)})


def cmd_list_versions(args: argparse.Namespace, settings: Settings) -> int:
    try:
        service, sessions = _service_and_sessions(settings)
        with sessions() as session:
            usage = service.kek_versions(session)
    except CryptoError as exc:
        print(f"kek list-versions: {exc}", file=sys.stderr)
        return 1
    print(f"{'version':>7}  {'state':<8}  data keys")
    for item in usage:
        print(f"{item.version:>7}  {item.state.value:<8}  {item.data_keys}")
    return 0


def cmd_retire(args: argparse.Namespace, settings: Settings) -> int:
    try:
        service, sessions = _service_and_sessions(settings)
        with sessions() as session, session.begin():
            service.retire(session, args.version)
    except (CryptoError, ValueError) as exc:
        print(f"kek retire: {exc}", file=sys.stderr)
        return 1
    print(f"KEK version {args.version} retired; its key material is destroyed")
    return 0


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    if settings.key_provider is not KeyProviderKind.local:
        print("kek init-key-file: only the local key provider uses a key file", file=sys.stderr)
        return 1
    path: Path = args.key_file or settings.key_file
    try:
        write_new_key_file(path, origin=ORIGIN_PROVISIONED)
    except FileExistsError:
        print(f"kek init-key-file: {path} already exists; refusing to overwrite keys",
              file=sys.stderr)
        return 1
    print(f"wrote {path} (mode 600). Back it up now, somewhere other than the database backups.")
    return 0
