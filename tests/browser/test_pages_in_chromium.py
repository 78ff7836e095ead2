"""The pages' shell in a real browser (Debian's Chromium) on the demo: a CRM-minted session
link opens the privacy center, the page loads only the gateway's own stylesheet under the strict
CSP (no violation reported), it is keyboard-usable and axe-core finds no serious or critical
violation; signing out ends the session; a used link and a page without a session show
accessible error pages.

Screenshots (artifacts/screenshots/): pages-01-privacy-home, pages-02-signed-out,
pages-03-session-required, pages-04-link-used, pages-05-privacy-home-phone.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import demo_crm_key
from tests.browser.personas import mint_link
from tests.demo_world import Demo, gmail_gateway_demo

pytestmark = [pytest.mark.demo, pytest.mark.browser]


def csp_reports(page: Any) -> list[str]:
    """Console messages Chromium writes when the CSP blocks something."""
    reports: list[str] = []
    page.on("console", lambda msg: reports.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    return reports


def test_a_session_link_opens_an_accessible_privacy_center_and_sign_out_ends_it(
        demo: Demo, page: Any, shot: Any) -> None:
    end_user = gmail_gateway_demo(demo)["end_user_id"]
    link = mint_link(demo.gateway_url, demo_crm_key(demo), end_user)
    reports = csp_reports(page)
    loaded: list[str] = []
    page.on("requestfinished", lambda request: loaded.append(request.url))

    page.goto(link["url"])
    assert page.url == demo.gateway_url + "/me"
    assert page.locator("h1").inner_text() == "Privacy center"
    assert page.locator("main").evaluate("e => getComputedStyle(e).borderRadius") == "12px"
    assert [u for u in loaded if not u.startswith(demo.gateway_url)] == []
    assert demo.gateway_url + "/pages/static/style.css" in loaded
    assert_accessible(page)
    shot(page, "pages-01-privacy-home")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Sign out"

    page.set_viewport_size({"width": 390, "height": 844})
    assert_accessible(page)
    shot(page, "pages-05-privacy-home-phone")
    page.set_viewport_size({"width": 1000, "height": 900})

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert "You are signed out" in page.content(), page.content()
    assert_accessible(page)
    shot(page, "pages-02-signed-out")

    answer = page.goto(demo.gateway_url + "/me")
    assert answer is not None and answer.status == 401
    assert page.locator("h1").inner_text() == "Session required"
    assert_accessible(page)
    shot(page, "pages-03-session-required")

    answer = page.goto(link["url"])
    assert answer is not None and answer.status == 410
    assert page.locator("[data-code]").get_attribute("data-code") == "session_link_used"
    assert_accessible(page)
    shot(page, "pages-04-link-used")
    assert reports == []


def test_axe_core_finds_what_it_must(demo: Demo, page: Any) -> None:
    """The check can fail: a page with an unlabelled input and no language is refused."""
    page.set_content("<html><body><main><input type='text'></main></body></html>")
    with pytest.raises(AssertionError, match="label"):
        assert_accessible(page)
