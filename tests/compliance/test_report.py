"""The compliance report over a scripted scenario: each section's figures match what the
scenario did, the report is signed with the log's key, and tampering with the report or with
the log it was derived from is detected. On PostgreSQL and SQLite."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.audit.signing import AuditSigner, load_signer, load_trusted_keys
from gateway.cli import main
from gateway.compliance.clauses import load_clauses
from gateway.compliance.service import verify_report
from gateway.compliance.signature import sign_directory
from gateway.settings import Settings
from tests.compliance.scenario import BODY, PROHIBITED, SUBJECT, Scenario
from tests.support.world import ROOT

TOOL = ROOT / "tools" / "verify_log.py"

pytestmark = pytest.mark.clause("pp.operation_log", "lu.human_reading")


def _api_report(client: TestClient, scenario: Scenario, out: Path) -> dict[str, Any]:
    since = scenario.since.isoformat()
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = client.get("/v1/compliance/report", params={"from": since, "to": until},
                          headers=scenario.world.reviewer.headers("audit_review"))
    assert response.status_code == 200, response.text
    out.mkdir(parents=True)
    for name, text in response.json()["files"].items():
        (out / name).write_text(text, encoding="utf-8")
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def _cli_report(scenario: Scenario, out: Path, *extra: str) -> dict[str, Any]:
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    code = main(["compliance", "report", "--tenant", str(scenario.world.tenant.id),
                 "--reviewer", scenario.world.reviewer.id, "--from", scenario.since.isoformat(),
                 "--to", until, "--out", str(out), *extra])
    assert code == 0
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def _export(out: Path) -> Path:
    assert main(["audit", "export", "--out", str(out)]) == 0
    return out


@pytest.mark.clause("lu.advertising", "lu.sale", "lu.credit", "lu.ai_training",
                    "lu.human_reading.consent", "lu.human_reading.security",
                    "lu.human_reading.aggregated", "lu.analytics", "pp.user_rights",
                    "pp.deletion")
def test_each_section_shows_what_the_scenario_did(client: TestClient, scenario: Scenario,
                                                  settings: Settings, tmp_path: Path) -> None:
    report = _api_report(client, scenario, tmp_path / "api")
    figures = report["figures"]
    world = scenario.world

    prohibited = figures["prohibited"]
    assert prohibited["total"] == len(PROHIBITED) and prohibited["allowed"] == 0
    assert prohibited["by_purpose"] == {f"{p}:deny": 1 for p in PROHIBITED}
    assert {i["reasons"][0] for i in prohibited["items"]} == {
        "purpose_prohibited_advertising", "purpose_prohibited_credit",
        "purpose_prohibited_ai_training", "purpose_prohibited_sale"}

    human = figures["human_access"]
    assert human["total"] == 2 and human["by_basis"] == {"grant": 1, "security": 1}
    under_grant, under_justification = human["items"]
    assert under_grant["grant_id"] == scenario.grant_id and under_grant["items"] == 1
    assert under_grant["grant_expires_at"] > under_grant["occurred_at"]
    assert under_justification["justification_id"] == scenario.justification_id
    assert under_justification["justification_expires_at"] > under_justification["occurred_at"]
    assert under_justification["flag_for_review"] is True
    assert {i["actor_id"] for i in human["items"]} == {world.operator.id}
    assert human["refused_by_reason"] == {"consent_required": 1}
    assert human["grants"] == [scenario.grant_id]

    (aggregate,) = figures["aggregates"]["items"]
    assert aggregate["decision"] == "deny" and aggregate["reasons"] == ["cohort_too_small"]
    assert aggregate["cohort_size"] == 1 and aggregate["min_cohort"] == 50
    assert figures["aggregates"]["served"] == 0

    assert figures["exports"]["allowed"] == 1 and figures["erasures"]["allowed"] == 1
    assert figures["exports"]["items"][0]["mailbox_id"] == str(world.mailbox.id)
    assert figures["key_events"]["by_operation"] == {"audit:checkpoint:requested": 1,
                                                     "keys:data_key:shredded": 1}
    # The report's own access is in it: a reviewer's, decided and logged before it was built.
    (own,) = figures["reports"]["items"]
    assert own["actor_id"] == world.reviewer.id and own["decision"] == "allow"
    assert report["generated_by"]["actor_id"] == world.reviewer.id

    checked = report["verification"]
    assert checked["ok"] is True and checked["checkpoints"] >= 1
    assert checked["entries_checked"] >= figures["entries"]

    by_id = {c["id"]: c for c in report["clauses"]}
    assert set(by_id) == {c.id for c in load_clauses(settings.policy_dir)}
    assert report["policy"]["error"] is None
    assert report["policy"]["revision"] == report["policy"]["declared_revision"]
    for clause in report["clauses"]:
        assert clause["rules"] or clause["outside_rego"], f"{clause['id']}: no rule"
        assert clause["tests"], f"{clause['id']}: no test carries its marker"
        assert clause["live"], f"{clause['id']}: no live figure"
        # No test run is attached to the API's report here: listed, not run.
        assert clause["complete"] and clause["status"] == "untested", clause
    assert "data.gateway.authz.grant_valid" in {
        r["rule"] for r in by_id["lu.human_reading.consent"]["rules"]}
    live = {f["label"]: f["value"] for f in by_id["lu.advertising"]["live"]}
    assert live == {"requests stating advertising, retargeting, personalised_ads refused": 1,
                    "of those allowed": 0}

    # Weakening settings are flagged: a test environment, and the test OPA without a token.
    flagged = {s["setting"] for s in report["settings"]["items"] if s["weakens"]}
    assert "GATEWAY_ENVIRONMENT" in flagged and "GATEWAY_POLICY_ENGINE_URL" in flagged

    # Nothing personal: no subject, body, address, case reference or justification text.
    everything = "".join(p.read_text() for p in (tmp_path / "api").iterdir())
    for secret in (SUBJECT, BODY, "alice@tenant-a", "Phishing sent from here",
                   "SEC-2026-0042"):
        assert secret not in everything

    # Signed with the operation log's checkpoint key.
    assert verify_report(tmp_path / "api", load_trusted_keys(settings), None).ok


@pytest.mark.clause("pp.operation_log")
def test_cli_report_verifies_against_an_export_and_tampering_is_detected(
        scenario: Scenario, cli_env: Settings, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    report = _cli_report(scenario, out, "--no-pdf")
    assert report["outputs"]["pdf"] == "not requested"
    assert report["generated_by"]["protocol"] == "cli"
    assert report["figures"]["prohibited"]["total"] == len(PROHIBITED)
    export = _export(tmp_path / "export")
    capsys.readouterr()

    assert main(["compliance", "verify", str(out), "--export", str(export)]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")

    # An edited report: the signature no longer covers it.
    original = (out / "report.json").read_text()
    (out / "report.json").write_text(original.replace('"allowed": 0', '"allowed": 1', 1))
    assert main(["compliance", "verify", str(out)]) == 1
    assert "report.json was changed after signing" in capsys.readouterr().out
    (out / "report.json").write_text(original)

    # Re-signed by a key the deployment does not trust.
    sign_directory(out, ["report.json", "report.html"], AuditSigner.generate())
    assert main(["compliance", "verify", str(out)]) == 1
    assert "does not verify with a trusted key" in capsys.readouterr().out

    # Figures that are not the log's, signed with the real key: the export gives them away.
    data = json.loads(original)
    data["figures"]["erasures"]["allowed"] = 0
    (out / "report.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    sign_directory(out, ["report.json", "report.html"], load_signer(cli_env))
    assert main(["compliance", "verify", str(out)]) == 0
    assert main(["compliance", "verify", str(out), "--export", str(export)]) == 1
    assert "figures.erasures.allowed: the report says 0, the log gives 1" in \
        capsys.readouterr().out
    (out / "report.json").write_text(original)
    sign_directory(out, ["report.json", "report.html"], load_signer(cli_env))

    # A log rewritten after the fact: a refusal turned into an allow, or an entry removed.
    entries = (export / "entries.jsonl").read_text().splitlines()
    refused = next(i for i, line in enumerate(entries) if '"purpose":"advertising"' in line)
    tampered = tmp_path / "tampered"
    shutil.copytree(export, tampered)
    lines = list(entries)
    lines[refused] = lines[refused].replace('"decision":"deny"', '"decision":"allow"')
    (tampered / "entries.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["compliance", "verify", str(out), "--export", str(tampered)]) == 1
    printed = capsys.readouterr().out
    assert "altered" in printed and "figures.prohibited.allowed" in printed

    del lines[refused]
    (tampered / "entries.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["compliance", "verify", str(out), "--export", str(tampered)]) == 1
    printed = capsys.readouterr().out
    assert "missing" in printed or "differs from its signed checkpoint" in printed
    assert "figures.prohibited.total" in printed


def test_the_test_run_is_named_and_a_failed_test_raises_the_alarm(
        scenario: Scenario, cli_env: Settings, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
        'errors="0" failures="1" skipped="0" tests="2" time="1.0" '
        'timestamp="2026-12-07T20:00:00" hostname="ci-runner">'
        '<testcase classname="tests.accounts.test_authentication" '
        'name="test_prohibited_purpose_is_denied_by_policy" time="0.1"><properties>'
        '<property name="clause" value="lu.advertising"/></properties></testcase>'
        '<testcase classname="tests.compliance.test_report" name="test_x[sqlite]" time="0.1">'
        '<properties><property name="clause" value="lu.credit"/></properties>'
        '<failure message="boom">boom</failure></testcase></testsuite></testsuites>')
    report = _cli_report(scenario, tmp_path / "report", "--no-pdf", "--junit", str(junit))
    (suite,) = report["test_run"]["suites"]
    assert suite["hostname"] == "ci-runner" and suite["failures"] == "1"
    clauses = {c["id"]: c for c in report["clauses"]}
    advertising = {t["test"]: t["outcome"] for t in clauses["lu.advertising"]["tests"]}
    assert advertising[
        "tests/accounts/test_authentication.py::test_prohibited_purpose_is_denied_by_policy"
    ] == "passed"
    assert clauses["lu.advertising"]["status"] == "evidenced"
    credit = {t["test"]: t["outcome"] for t in clauses["lu.credit"]["tests"]}
    assert credit["tests/compliance/test_report.py::test_x"] == "failed"
    assert clauses["lu.credit"]["alarm"] is True and clauses["lu.credit"]["status"] == "alarm"
    # A marked test the run did not include is listed as not run.
    assert "not run" in {t["outcome"] for t in clauses["pp.encryption"]["tests"]}


def test_only_reviewers_build_reports_and_every_attempt_is_logged(
        client: TestClient, scenario: Scenario) -> None:
    world = scenario.world
    params = {"from": scenario.since.isoformat(), "to": datetime.now(UTC).isoformat()}
    for actor, purpose in ((world.operator, "audit_review"), (world.crm, "user_facing"),
                           (world.reviewer, "support")):
        refused = client.get("/v1/compliance/report", params=params,
                             headers=actor.headers(purpose))
        assert refused.status_code == 403, refused.text
    bad = client.get("/v1/compliance/report", params={**params, "to": params["from"]},
                     headers=world.reviewer.headers("audit_review"))
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_date_range"
    logged = client.get("/v1/audit/entries", params={"action": "compliance.report"},
                        headers=world.reviewer.headers("audit_review")).json()["items"]
    assert sorted(e["decision"] for e in logged) == ["allow", "deny", "deny", "deny"]


@pytest.mark.clause("pp.operation_log")
def test_the_stand_alone_verifier_checks_the_report_too(
        scenario: Scenario, cli_env: Settings, tmp_path: Path) -> None:
    """tools/verify_log.py --report: the signature and the headline figures, from the export,
    without the gateway's code (run as a separate Python process)."""
    out = tmp_path / "report"
    _cli_report(scenario, out, "--no-pdf")
    export = _export(tmp_path / "export")
    keys = [str(k) for k in sorted((export / "keys").glob("*.pub.pem"))]

    def tool(report: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(TOOL), str(export / "entries.jsonl"), "--checkpoints",
             str(export / "checkpoints.jsonl"), *[a for k in keys for a in ("--key", k)],
             "--report", str(report)], capture_output=True, text=True, check=False)

    intact = tool(out)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert intact.stdout.strip().endswith("OK")

    data = json.loads((out / "report.json").read_text())
    data["figures"]["human_access"]["by_basis"] = {"grant": 1}
    (out / "report.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    changed = tool(out)
    assert changed.returncode == 1
    assert "report.json is missing or changed after signing" in changed.stdout
    sign_directory(out, ["report.json", "report.html"], load_signer(cli_env))
    resigned = tool(out)
    assert resigned.returncode == 1 and "changed after signing" not in resigned.stdout
    assert 'human_by_basis is {"grant":1} in the report, {"grant":1,"security":1} in the log' \
        in resigned.stdout
