"""The connect flow of the demo in a real browser (Debian's Chromium): the gateway's pre-consent
page, the emulator's Google consent page (send unticked, everything ticked, denied), the
gateway's result page and its retry links, then the mailbox synced; a local CRM as the return
URL (over HTTP: nothing listens there); and the API docs pages.

Screenshots (artifacts/screenshots/): connect-01-gateway-consent, connect-02-google-consent,
connect-03-google-send-unticked, connect-04-result-send-missing, connect-05-result-connected,
connect-06-result-denied, connect-07-retry-gateway-consent, api-docs-swagger, api-docs-redoc.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.policy.vocabulary import SCOPE_SEND
from tests.demo_world import Demo, consent_answer, gmail_gateway_demo, wait_until_synced

pytestmark = [pytest.mark.demo, pytest.mark.browser]

DEMO_MESSAGES = 300  # scripts/run.sh's seeded mailbox
BLOCKED_BY_CSP = ("csp", "net::ERR_BLOCKED_BY_CSP")  # how Playwright reports such a request


def features(page: Any, list_id: str) -> list[str]:
    return [str(li.get_attribute("data-feature"))
            for li in page.locator(f"#{list_id} li").all()]


def status(page: Any) -> str:
    return str(page.locator("#status").get_attribute("data-status"))


def test_send_unticked_connects_without_send_then_the_add_link_grants_it_and_mail_syncs(
        demo: Demo, page: Any, shot: Any) -> None:
    link = gmail_gateway_demo(demo)

    page.goto(link["consent_url"])
    assert page.locator("h1").inner_text() == "Connect your Gmail to Demo CRM"
    assert features(page, "features") == ["read", "send", "labels"]
    assert "Limited Use" in page.locator("#limited-use").inner_text()
    shot(page, "connect-01-gateway-consent")

    page.click("#continue")
    page.wait_for_selector("form#consent")
    assert page.url.startswith(demo.emulator_url)
    assert page.locator("h1").inner_text() == "Demo CRM wants access to your Google Account"
    shot(page, "connect-02-google-consent")
    page.uncheck(f'input[name="scope"][value="{SCOPE_SEND}"]')
    shot(page, "connect-03-google-send-unticked")
    page.click("#approve")

    page.wait_for_selector("#status")
    assert page.url.startswith(demo.gateway_url + "/oauth/callback")
    assert status(page) == "connected"
    assert page.locator("#account").inner_text() == "dana@example.com"
    assert features(page, "granted") == ["read", "labels"]
    assert features(page, "missing") == ["send"]
    shot(page, "connect-04-result-send-missing")

    page.click("#retry")  # "Connect again to add them": the gateway's page, then Google's
    page.click("#continue")
    page.wait_for_selector("form#consent")
    assert page.is_checked(f'input[name="scope"][value="{SCOPE_SEND}"]')
    page.click("#approve")
    page.wait_for_selector("#status")
    assert status(page) == "connected"
    assert features(page, "granted") == ["read", "send", "labels"]
    assert page.locator("#missing").count() == 0
    shot(page, "connect-05-result-connected")

    sync = wait_until_synced(demo, link["crm_key"])
    assert sync["counts"]["messages_stored"] == DEMO_MESSAGES  # type: ignore[index]


def test_denied_on_googles_page_says_why_and_the_retry_link_connects(
        demo: Demo, page: Any, shot: Any) -> None:
    link = gmail_gateway_demo(demo)

    page.goto(link["consent_url"])
    page.click("#continue")
    page.wait_for_selector("form#consent")
    page.click("#deny")

    page.wait_for_selector("#status")
    assert status(page) == "denied"
    assert page.locator("#code").inner_text() == "access_denied"
    assert "refused access" in page.locator("#detail").inner_text()
    shot(page, "connect-06-result-denied")

    page.click("#retry")
    assert page.locator("h1").inner_text() == "Connect your Gmail to Demo CRM"
    shot(page, "connect-07-retry-gateway-consent")
    page.click("#continue")
    page.wait_for_selector("form#consent")
    page.click("#approve")
    page.wait_for_selector("#status")
    assert status(page) == "connected"


def test_a_local_crm_may_be_the_return_url_in_the_demo(demo: Demo) -> None:
    crm = "http://127.0.0.1:3000/settings/gmail"
    link = gmail_gateway_demo(demo, "--return-url", crm)

    back = consent_answer(link["consent_url"], deny=True)
    assert back.status_code == 302
    assert back.headers["location"] == crm + "?status=denied&reason=access_denied"
    refused = httpx.post(f"{demo.gateway_url}/v1/connect", timeout=30, json={
        "end_user_id": link["end_user_id"], "features": ["read"],
        "return_url": "http://127.0.0.1:3001/elsewhere"},
        headers={"Authorization": f"Bearer {link['crm_key']}", "Gateway-Purpose": "user_facing"})
    assert refused.status_code == 400
    assert refused.json()["code"] == "return_url_not_allowed"


@pytest.mark.parametrize(("path", "ready", "name"), [
    ("/docs", ".swagger-ui .info .title", "api-docs-swagger"),
    ("/redoc", ".redoc-wrap .api-info h1", "api-docs-redoc"),
])
def test_api_docs_render_from_the_gateway_alone(demo: Demo, page: Any, shot: Any, path: str,
                                                ready: str, name: str) -> None:
    html = httpx.get(demo.gateway_url + path, timeout=30).text
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    # Requests that left for another host: finished, or failed for any reason but the page's
    # Content-Security-Policy stopping them in the browser (offline, a CDN fetch fails too).
    elsewhere: list[str] = []

    def external(request: Any) -> bool:
        return not str(request.url).startswith((demo.gateway_url, "data:", "blob:"))

    page.on("requestfinished", lambda r: elsewhere.append(r.url) if external(r) else None)
    page.on("requestfailed", lambda r: elsewhere.append(f"{r.url} ({r.failure})")
            if external(r) and str(r.failure) not in BLOCKED_BY_CSP else None)

    page.goto(demo.gateway_url + path)
    page.wait_for_selector(ready)
    assert "Gmail" in page.locator(ready).inner_text()
    shot(page, name, full_page=False)
    assert elsewhere == []
