"""The compliance report of the scripted scenario (tests/compliance/scenario.py) in Debian's
Chromium: the CLI prints report.pdf through it (naming a real pytest run of one marked module),
the signature covers the PDF, and report.html opens with nothing fetched from anywhere,
weakening settings in red.

Screenshots (artifacts/screenshots/): compliance-report (the first screen) and
compliance-report-print (the first page as printed, A4)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.audit.signing import load_trusted_keys
from gateway.cli import main
from gateway.compliance.service import verify_report
from gateway.kit.db import Database
from gateway.settings import Settings
from tests.compliance.scenario import PROHIBITED, cli_environment, play
from tests.support.world import ROOT, TenantWorld

pytestmark = [pytest.mark.browser, pytest.mark.clause("pp.operation_log")]

A4 = {"width": 794, "height": 1123}  # CSS pixels at 96 dpi


def test_the_report_renders_as_html_and_pdf_in_chromium(
        client: TestClient, db: Database, tenant_a: TenantWorld, settings: Settings,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, page: Any, shot: Any) -> None:
    scenario = play(client, db, tenant_a)
    for name, value in cli_environment(settings).items():
        monkeypatch.setenv(name, value)
    # A real test run to name: the marked tests of one module, in a pytest of their own.
    junit = tmp_path / "junit.xml"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(ROOT / "tests" / "policy" / "test_vocabulary_sync.py"),
                          f"--junitxml={junit}"], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stdout[-2000:]
    out = tmp_path / "report"
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert main(["compliance", "report", "--tenant", "tenant-a", "--reviewer",
                 tenant_a.reviewer.id, "--from", scenario.since.isoformat(), "--to", until,
                 "--out", str(out), "--junit", str(junit)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["outputs"]["pdf"] == "rendered"
    advertising = next(c for c in report["clauses"] if c["id"] == "lu.advertising")
    assert advertising["status"] == "evidenced"
    assert {"test": "tests/policy/test_vocabulary_sync.py::test_purposes",
            "outcome": "passed"} in advertising["tests"]
    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.count(b"/Type /Page") >= 2
    signed = json.loads((out / "signature.json").read_text())["files"]
    assert set(signed) == {"report.json", "report.html", "report.pdf"}
    assert verify_report(out, load_trusted_keys(settings), None).ok

    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto((out / "report.html").as_uri())
    assert requested == [(out / "report.html").as_uri()]  # self-contained: nothing else
    assert page.locator("h1").inner_text() == "Limited Use compliance report"
    rows = page.locator("table").nth(1).locator("tr")
    assert rows.count() == len(report["clauses"]) + 1
    # The test environment and the unauthenticated test OPA are drawn in red.
    red = page.locator("tr.alarm").all_inner_texts()
    assert any("GATEWAY_ENVIRONMENT" in row for row in red)
    assert any("GATEWAY_POLICY_ENGINE_URL" in row for row in red)
    colour = page.locator("tr.alarm td").first.evaluate("e => getComputedStyle(e).color")
    assert colour == "rgb(179, 0, 27)"
    prohibited = page.locator("h3", has_text="Requests for a prohibited purpose").inner_text()
    assert prohibited.startswith(f"Requests for a prohibited purpose ({len(PROHIBITED)}, ")
    shot(page, "compliance-report", full_page=False)

    page.set_viewport_size(A4)
    page.emulate_media(media="print")
    shot(page, "compliance-report-print", full_page=False)
