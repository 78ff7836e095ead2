"""One demo (scripts/run.sh on a fresh copy of the repository) and one Chromium for the whole
browser session; a new page (its own cookies) per test.

Chromium is Debian's (`/usr/bin/chromium`, installed by scripts/lib.sh's ensure_chromium),
driven by the Python `playwright` package: Playwright's own browser download is never used.
Screenshots go to artifacts/screenshots/ (kept by CI as artifacts, ignored by git).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.personas import open_persona
from tests.demo_world import REPO, Demo, running_demo

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with running_demo(tmp_path_factory.mktemp("browser-demo")) as running:
        yield running


# Package scope: Playwright's sync API runs an event loop in this thread while it is open, and
# tests outside this package call asyncio.run(), which refuses to start inside a running loop.
@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: scripts/test.sh installs it "
                    "(apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Chromium's sandbox needs user namespaces, which a root CI container does not have.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1000, "height": 900})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def shot() -> Any:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str, *, full_page: bool = True) -> Path:
        """`full_page=False` for long documents (ReDoc's page is tens of screens)."""
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size > 1000
        return path

    return take


@pytest.fixture
def persona(chromium: Any, demo: Demo) -> Iterator[Any]:
    """`persona(principal_id, path=None)` → a new page (its own context and cookie) signed in as
    that principal through a session link the demo's CRM key mints (tests/browser/personas.py).
    Several personas can be open at once, each in its own context."""
    contexts: list[Any] = []
    crm_key = demo_crm_key(demo)

    def open_as(principal_id: str, path: str | None = None) -> Any:
        context = chromium.new_context(viewport={"width": 1000, "height": 900})
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        open_persona(page, demo.gateway_url, crm_key, principal_id, path)
        return page

    yield open_as
    for context in contexts:
        context.close()


_CRM_KEYS: dict[str, str] = {}


def demo_crm_key(demo: Demo) -> str:
    """One CRM key per demo (`gmail-gateway demo` issues a fresh one each time it runs)."""
    from tests.demo_world import gmail_gateway_demo

    if demo.gateway_url not in _CRM_KEYS:
        _CRM_KEYS[demo.gateway_url] = gmail_gateway_demo(demo)["crm_key"]
    return _CRM_KEYS[demo.gateway_url]
