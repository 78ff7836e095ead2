"""`assert_accessible(page)`: axe-core (the npm package scripts/lib.sh's ensure_axe_core pins
into .tools/) run on the page as it is, with the page's own CSP in force; no serious or
critical violation may remain."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.demo_world import REPO

AXE_VERSION_FILE = REPO / "scripts" / "lib.sh"
BLOCKING_IMPACTS = ("serious", "critical")


@cache
def axe_source() -> str:
    configured = os.environ.get("GATEWAY_AXE_CORE_JS")
    candidates = [Path(configured)] if configured else sorted(
        (REPO / ".tools" / "axe-core").glob("*/node_modules/axe-core/axe.min.js"))
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    pytest.fail("axe-core is not installed: scripts/test.sh installs it (ensure_axe_core in "
                "scripts/lib.sh), or set GATEWAY_AXE_CORE_JS to its axe.min.js")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page. The script is evaluated through the DevTools
    protocol, not added as a <script> element, so the page's CSP stays on."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    result: dict[str, Any] = page.evaluate(
        "async () => await window.axe.run(document, {resultTypes: ['violations']})")
    return list(result["violations"])


def assert_accessible(page: Any) -> None:
    blocking = [v for v in axe_violations(page) if v.get("impact") in BLOCKING_IMPACTS]
    described = [f"{v['id']} ({v['impact']}): {v['help']} at "
                 + ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:3])
                 for v in blocking]
    assert not blocking, f"{page.url}: " + "; ".join(described)
