"""Compliance report benchmark on PostgreSQL: the time to build a report over N log entries.

    source scripts/lib.sh && ensure_postgres_running && ensure_opa
    .venv/bin/python bench/compliance_report_bench.py [--entries 1000000] [--repeat 2] [--pdf]

1. seeds N chained entries over the last 365 days (bench/audit_world.py: 20 tenants, 8 chains,
   a signed checkpoint every 1,000 entries, loaded with COPY);
2. measures, in this process and alternated `--repeat` times:
   - the baseline: `audit verify` over the whole log (`gateway.audit.verify.verify`, one process);
   - the figures alone over the whole year, every tenant (`figures_from_database`);
   - a whole report over the whole year, every tenant (`build_report`: figures, `audit verify`,
     the policy's annotations, the tests, the settings), then writing and signing it
     (`write_report`: report.json, report.html, and report.pdf with `--pdf`);
   - a report of one tenant over the last 30 days (what a reviewer usually asks for);
   and prints each time, entries per second and the ratios to the baseline.

Uses GATEWAY_TEST_DATABASE_URL as the admin URL and creates (then drops) its own database.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from bench.audit_world import seeded_log_database
from gateway.audit.signing import AuditSigner, TrustedKeys
from gateway.audit.verify import verify
from gateway.compliance.live import figures_from_database
from gateway.compliance.report import Period, Requester, build_report, pdf_plan, write_report
from gateway.kit.db import Database
from gateway.settings import Environment, Settings

ROOT = Path(__file__).resolve().parents[1]
REQUESTER = Requester("reviewer", str(uuid.uuid4()), "bench", "bench")


def _timed(label: str, entries: int, work: object) -> float:
    started = time.perf_counter()
    work()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    print(f"  {label:<44} {seconds:7.2f}s  {entries / seconds:>11,.0f} entries/s")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--pdf", action="store_true", help="also print report.pdf in Chromium")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    with seeded_log_database("compliance_bench", args.entries, keep=args.keep) as log, \
            tempfile.TemporaryDirectory(prefix="compliance-bench-") as tmp:
        settings = Settings(environment=Environment.test, database_url=log.url,
                            data_dir=Path(tmp), policy_dir=ROOT / "policies")
        run(log.database, settings, log.trusted, log.signer, Path(tmp), args)
    return 0


def run(database: Database, settings: Settings, trusted: TrustedKeys, signer: AuditSigner,
        tmp: Path, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    year = Period(None, now - timedelta(days=366), now)
    with database.transaction() as session:
        tenant = session.execute(text("SELECT tenant_id FROM audit_entries LIMIT 1")).scalar()
    month = Period(tenant, now - timedelta(days=30), now)
    pdf = pdf_plan(args.pdf)
    results: dict[str, list[float]] = {}
    entries = {"year": 0, "month": 0}

    def baseline() -> None:
        with database.transaction() as session:
            report = verify(session, trusted)
        assert report.ok, report.first

    def figures_only() -> None:
        with database.transaction() as session:
            entries["year"] = figures_from_database(session, None, year.since, year.until)[
                "entries"]

    def whole(period: Period, key: str) -> None:
        with database.transaction() as session:
            report = build_report(session, settings, period, requester=REQUESTER,
                                  trusted=trusted, signing_key_id=signer.key_id, pdf=pdf)
        entries[key] = report["figures"]["entries"]
        write_report(tmp / key, report, signer)

    total = args.entries
    for round_ in range(1, args.repeat + 1):
        print(f"round {round_}:")
        results.setdefault("verify", []).append(
            _timed("baseline: audit verify, whole log", total, baseline))
        results.setdefault("figures", []).append(
            _timed("figures only, whole year, all tenants", total, figures_only))
        results.setdefault("year", []).append(
            _timed("report, whole year, all tenants (+write)", total,
                   lambda: whole(year, "year")))
        results.setdefault("month", []).append(
            _timed("report, one tenant, 30 days (+write)", total,
                   lambda: whole(month, "month")))
    best = {k: min(v) for k, v in results.items()}
    print(f"entries in the log {total:,}; in the year's report {entries['year']:,}; "
          f"in one tenant's month {entries['month']:,}; PDF: {pdf}")
    print(f"best of {args.repeat}: verify {best['verify']:.2f}s, figures {best['figures']:.2f}s, "
          f"year report {best['year']:.2f}s, tenant-month report {best['month']:.2f}s")
    print(f"ratios to audit verify: figures {best['figures'] / best['verify']:.2f}, "
          f"year report {best['year'] / best['verify']:.2f}, "
          f"tenant-month report {best['month'] / best['verify']:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
