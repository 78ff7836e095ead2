"""`gmail-gateway compliance ...`: the signed Limited Use evidence report.

    compliance report --tenant T --reviewer ID --from DATE --to DATE --out DIR
                      [--junit FILE] [--no-pdf]
    compliance verify DIR [--export EXPORT_DIR] [--key PUB.pem ...]

`report` is a reviewer's access like any other: decided by the policy (action
compliance.report, purpose audit_review) and logged before anything is read. A bare date in
`--to` includes that whole day. `verify` exits 0 when the signature holds (and, with
`--export`, the export verifies and gives the report's figures), 1 otherwise.
The main CLI (`gateway/cli.py`) calls `add_commands(subparsers)`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.settings import Settings

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _instant(raw: str, *, end: bool = False) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or date-time: {raw!r}") from None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value + timedelta(days=1) if end and _DATE_ONLY.match(raw) else value


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    compliance = subparsers.add_parser("compliance", help="the signed Limited Use evidence "
                                       "report: build, verify")
    sub = compliance.add_subparsers(dest="compliance_command", required=True, metavar="COMMAND")

    report = sub.add_parser("report", help="build, write and sign a report over a period")
    report.add_argument("--tenant", required=True, help="tenant slug or id")
    report.add_argument("--reviewer", required=True,
                        help="id of the reviewer principal asking (the access is logged as "
                             "theirs)")
    report.add_argument("--from", dest="since", required=True, type=_instant,
                        help="period start (ISO 8601 date or date-time, UTC unless stated)")
    report.add_argument("--to", dest="until", required=True,
                        type=lambda raw: _instant(raw, end=True),
                        help="period end, exclusive (a bare date includes that day)")
    report.add_argument("--out", required=True, type=Path, help="directory (created if needed)")
    report.add_argument("--junit", type=Path,
                        help="a pytest JUnit XML (pytest --junitxml) naming the test run; "
                             "default GATEWAY_COMPLIANCE_JUNIT_FILE")
    report.add_argument("--no-pdf", action="store_true", help="skip the PDF")
    report.set_defaults(handler=cmd_report)

    verify = sub.add_parser("verify", help="check a report's signature and, with --export, "
                            "re-derive its figures from a log export")
    verify.add_argument("directory", type=Path)
    verify.add_argument("--export", type=Path,
                        help="a `gmail-gateway audit export` directory taken after the report")
    verify.add_argument("--key", type=Path, action="append", default=[],
                        help="a trusted Ed25519 public key (PEM); default: the deployment's")
    verify.set_defaults(handler=cmd_verify)


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.compliance.service import CliRequest, report_from_cli

    if args.until <= args.since:
        print("compliance report: --to must be after --from", file=sys.stderr)
        return 2
    if args.junit is not None and not args.junit.is_file():
        print(f"compliance report: no file {args.junit}", file=sys.stderr)
        return 2
    report = report_from_cli(settings, CliRequest(
        tenant=args.tenant, reviewer=args.reviewer, since=args.since, until=args.until,
        out=args.out, junit=args.junit, pdf=not args.no_pdf))
    status: dict[str, list[str]] = {}
    for clause in report["clauses"]:
        status.setdefault(clause["status"], []).append(clause["id"])
    print(json.dumps({"out": str(args.out), "entries": report["figures"]["entries"],
                      "log_verifies": report["verification"]["ok"],
                      "pdf": report["outputs"]["pdf"], "clauses": status,
                      "weakening_settings": report["settings"]["weakening"]}, indent=2))
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.compliance.service import trusted_keys, verify_report

    try:
        trusted = trusted_keys(settings, args.key)
    except (OSError, ValueError) as exc:
        print(f"compliance verify: {exc}", file=sys.stderr)
        return 2
    outcome = verify_report(args.directory, trusted, args.export)
    for line in outcome.checked:
        print(f"checked: {line}")
    for problem in outcome.problems:
        print(f"PROBLEM: {problem}")
    print("OK" if outcome.ok else "NOT VERIFIED")
    return 0 if outcome.ok else 1
