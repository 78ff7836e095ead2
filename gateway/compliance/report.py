"""Build a report (`build_report`: one dict, the content of report.json) and write it out
(`write_report`: report.json, report.html, report.pdf when Chromium is here, signature.json).

The figures cover `from <= occurred_at < min(to, generated_at)` (`until_effective`): entries
written after the report was built, its own access entry among them, are not in it, so a
verifier reading a later export of the log finds the same figures.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from gateway.audit.signing import AuditSigner, TrustedKeys
from gateway.compliance.clauses import load_clauses
from gateway.compliance.figures import LIST_LIMIT
from gateway.compliance.live import figures_from_database, verification
from gateway.compliance.posture import posture
from gateway.compliance.render import pdf_unavailable, render_html, render_pdf
from gateway.compliance.rules import policy_rules
from gateway.compliance.sections import clause_figures
from gateway.compliance.signature import sign_directory
from gateway.compliance.tests_evidence import tests_by_clause
from gateway.kit.timeutil import utc_text, utcnow
from gateway.policy.vocabulary import PROHIBITED_PURPOSES
from gateway.settings import Settings

FORMAT = "gmail-gateway/compliance-report/v1"
FILES = ("report.json", "report.html", "report.pdf")


@dataclass(frozen=True)
class Requester:
    """Who asked for the report, as the guarded access logged it."""

    actor_kind: str
    actor_id: str
    request_id: str
    protocol: str


@dataclass(frozen=True)
class Period:
    tenant_id: uuid.UUID | None
    since: datetime
    until: datetime


def _tests_dir(settings: Settings) -> Path | None:
    candidate = Path(settings.policy_dir).resolve().parent / "tests"
    return candidate if candidate.is_dir() else None


def build_report(session: Session, settings: Settings, period: Period, *,
                 requester: Requester, trusted: TrustedKeys, signing_key_id: str,
                 junit: Path | None = None, pdf: str = "not requested",
                 generated_at: datetime | None = None) -> dict[str, Any]:
    generated_at = generated_at or utcnow()
    until = min(period.until, generated_at)
    figures = figures_from_database(session, period.tenant_id, period.since, until)
    checked = verification(session, trusted)
    rules = policy_rules(Path(settings.policy_dir), os.environ.get("GATEWAY_OPA_BINARY"))
    run, tests = tests_by_clause(_tests_dir(settings), junit)
    known = load_clauses(Path(settings.policy_dir))
    clauses = []
    for clause in known:
        live = clause_figures(clause.id, figures, checked)
        clause_tests = tests.get(clause.id, [])
        clause_rules = rules["by_clause"].get(clause.id, [])
        failed = any(t["outcome"] in ("failed", "error") for t in clause_tests)
        passed = any(t["outcome"] == "passed" for t in clause_tests)
        complete = bool((clause_rules or clause.outside_rego) and clause_tests and live)
        alarm = failed or any(f["alarm"] for f in live)
        clauses.append({"id": clause.id, "group": clause.group, "title": clause.title,
                        "outside_rego": clause.outside_rego,
                        "rules": clause_rules, "tests": clause_tests, "live": live,
                        "complete": complete, "alarm": alarm,
                        "status": "alarm" if alarm else "incomplete" if not complete
                        else "evidenced" if passed else "untested"})
    return {
        "format": FORMAT,
        "generated_at": utc_text(generated_at),
        "generated_by": {"actor_kind": requester.actor_kind, "actor_id": requester.actor_id,
                         "request_id": requester.request_id, "protocol": requester.protocol},
        "scope": {"tenant_id": str(period.tenant_id) if period.tenant_id else None,
                  "from": utc_text(period.since), "to": utc_text(period.until),
                  "until_effective": utc_text(until)},
        "policy": {k: rules[k] for k in ("revision", "declared_revision", "error")},
        "test_run": run,
        "settings": posture(settings, signing_key_id=signing_key_id),
        "verification": checked,
        "figures": figures,
        "clause_groups": list(dict.fromkeys(c.group for c in known)),
        "clauses": clauses,
        "prohibited_purposes": sorted(PROHIBITED_PURPOSES),
        "list_limit": LIST_LIMIT,
        "signing_key_id": signing_key_id,
        "outputs": {"pdf": pdf},
    }


def pdf_plan(want_pdf: bool) -> str:
    """What the report says about its PDF, decided before report.json is written."""
    if not want_pdf:
        return "not requested"
    missing = pdf_unavailable()
    return "rendered" if missing is None else f"not rendered: {missing}"


def write_report(out: Path, report: dict[str, Any], signer: AuditSigner) -> list[str]:
    """Write the files and sign them; returns the names written (signature.json last)."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*FILES, "signature.json"):
        (out / stale).unlink(missing_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n",
                                     encoding="utf-8")
    (out / "report.html").write_text(render_html(report), encoding="utf-8")
    names = ["report.json", "report.html"]
    if report["outputs"]["pdf"] == "rendered":
        render_pdf(out / "report.html", out / "report.pdf")
        names.append("report.pdf")
    sign_directory(out, names, signer)
    return [*names, "signature.json"]
