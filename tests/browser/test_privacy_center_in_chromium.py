"""The privacy center in a real browser (Debian's Chromium) on the demo: the demo user's mailbox
connected and synced, an operator (made with the CLI, as an administrator would) asks for one
message over the API; the user, signed in by a CRM-minted session link, walks every page —
approves with the keyboard, sees the operator's read in "who read my mail", restricts and lifts,
opens the disconnect and delete confirmations, revokes the grant — and every page passes axe-core
(no serious or critical violation). Another end user of the tenant gets the 404 page for the
same mailbox. Disconnect and delete themselves are left to tests/pages (they would end the shared
demo mailbox).

Screenshots (artifacts/screenshots/): privacy-01-home, privacy-02-connection,
privacy-03-access-pending, privacy-04-access-approved, privacy-05-who-read,
privacy-06-who-read-phone, privacy-07-cases, privacy-08-data, privacy-09-confirm-restrict,
privacy-10-restricted, privacy-11-confirm-lift, privacy-12-confirm-disconnect,
privacy-13-confirm-delete, privacy-14-access-revoked, privacy-15-other-users-mailbox,
privacy-16-reconnect-gateway-consent (where the reconnect button leads).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.browser.accessibility import assert_accessible
from tests.demo_world import Demo, consent_answer, demo_cli, gmail_gateway_demo, wait_until_synced

pytestmark = [pytest.mark.demo, pytest.mark.browser]

OPERATOR_NAME = "Olivia Operator"
WHY = "The customer says this invoice shows the wrong amount; I need to see it."


def principal_with_key(demo: Demo, tenant: str, kind: str, name: str) -> tuple[str, str]:
    made = demo_cli(demo, "principals", "create", "--tenant", tenant, "--kind", kind,
               "--subject", f"{kind}-{uuid.uuid4().hex[:8]}", "--display-name", name,
               *(["--group", "support"] if kind == "operator" else []))
    key = demo_cli(demo, "api-keys", "create", "--tenant", tenant, "--principal", str(made["id"]))
    return str(made["id"]), str(key["api_key"])


def api(demo: Demo, key: str, purpose: str) -> httpx.Client:
    return httpx.Client(base_url=demo.gateway_url, timeout=30, headers={
        "Authorization": f"Bearer {key}", "Gateway-Purpose": purpose})


def connected_mailbox(demo: Demo, made: dict[str, str]) -> dict[str, Any]:
    """The demo user's mailbox, connected (through the emulator's consent) and synced."""
    with api(demo, made["crm_key"], "user_facing") as crm:
        items = crm.get("/v1/mailboxes").raise_for_status().json()["items"]
        if not items or items[0]["state"] != "active":
            consent_answer(made["consent_url"])
        wait_until_synced(demo, made["crm_key"])
        mailbox: dict[str, Any] = crm.get("/v1/mailboxes").raise_for_status().json()["items"][0]
        return mailbox


def check(page: Any, shot: Any, name: str) -> None:
    assert_accessible(page)
    shot(page, name)


def test_the_privacy_center_walked_end_to_end(demo: Demo, persona: Any, shot: Any) -> None:
    made = gmail_gateway_demo(demo)
    mailbox = connected_mailbox(demo, made)
    base = f"/me/mailboxes/{mailbox['id']}"
    with api(demo, made["crm_key"], "user_facing") as crm:
        listed = crm.get(f"/v1/mailboxes/{mailbox['id']}/messages", params={"limit": 1})
        message = listed.raise_for_status().json()["items"][0]
    _, operator_key = principal_with_key(demo, made["tenant"], "operator",
                                                   OPERATOR_NAME)
    with api(demo, operator_key, "consent_management") as operator:
        asked = operator.post(f"/v1/mailboxes/{mailbox['id']}/consent/requests", json={
            "message_ids": [message["id"]], "justification": WHY, "requested_minutes": 30})
        assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]

    page = persona(made["end_user_id"])
    assert page.locator("h1").inner_text() == "Privacy center"
    check(page, shot, "privacy-01-home")

    page.get_by_role("link", name="Connection and sync").first.click()
    assert page.locator("h1").inner_text() == "Connection and sync"
    assert page.get_by_role("button", name="Reconnect with Google").is_visible()
    check(page, shot, "privacy-02-connection")

    page.get_by_role("link", name="Access requests and grants").click()
    card = page.locator(f"#request-{request_id}").locator("..")
    assert OPERATOR_NAME in card.inner_text() and WHY in card.inner_text()
    assert str(message.get("subject") or "(no subject)") in card.inner_text()
    check(page, shot, "privacy-03-access-pending")
    approve = card.get_by_role("button", name="Approve")
    approve.focus()
    page.keyboard.press("Enter")  # the keyboard alone decides
    page.wait_for_selector("text=You approved the request")
    check(page, shot, "privacy-04-access-approved")

    with api(demo, operator_key, "support") as operator:
        read = operator.get(f"/v1/mailboxes/{mailbox['id']}/messages/{message['id']}/content")
        assert read.status_code == 200, read.text

    page.get_by_role("link", name="Who read my mail").click()
    first_row = page.locator("table tbody tr").first.inner_text()
    assert OPERATOR_NAME in first_row and "read the message" in first_row
    assert "Your grant of" in first_row
    check(page, shot, "privacy-05-who-read")
    page.set_viewport_size({"width": 390, "height": 844})
    check(page, shot, "privacy-06-who-read-phone")
    page.set_viewport_size({"width": 1000, "height": 900})

    page.get_by_role("link", name="Security and legal cases").click()
    check(page, shot, "privacy-07-cases")

    page.get_by_role("link", name="Your data").click()
    assert page.get_by_role("link", name="Download my mail (.ndjson)").is_visible()
    check(page, shot, "privacy-08-data")
    page.get_by_role("link", name="Restrict processing…").click()
    assert "What will happen" in page.locator("main").inner_text()
    check(page, shot, "privacy-09-confirm-restrict")
    page.get_by_role("button", name="Restrict processing").click()
    page.wait_for_selector("text=Processing is restricted")
    check(page, shot, "privacy-10-restricted")
    page.get_by_role("link", name="Lift the restriction…").click()
    check(page, shot, "privacy-11-confirm-lift")
    page.get_by_role("button", name="Lift the restriction").click()
    page.wait_for_selector("text=The restriction is lifted")

    for step, name in (("disconnect", "privacy-12-confirm-disconnect"),
                       ("delete", "privacy-13-confirm-delete")):
        page.goto(f"{demo.gateway_url}{base}/data/confirm/{step}")
        assert page.get_by_role("link", name="Cancel").is_visible()
        check(page, shot, name)

    page.goto(f"{demo.gateway_url}{base}/access")
    page.get_by_role("button", name="Revoke now").first.click()
    page.wait_for_selector("text=You revoked the grant")
    check(page, shot, "privacy-14-access-revoked")
    with api(demo, operator_key, "support") as operator:
        again = operator.get(f"/v1/mailboxes/{mailbox['id']}/messages/{message['id']}/content")
        assert again.status_code == 403

    page.goto(f"{demo.gateway_url}{base}")
    page.get_by_role("button", name="Reconnect with Google").click()  # CSP form-action 'self'
    page.wait_for_selector("#continue")
    assert page.url.startswith(demo.gateway_url + "/connect/")
    assert page.locator("h1").inner_text() == "Connect your Gmail to Demo CRM"
    shot(page, "privacy-16-reconnect-gateway-consent")

    other_id, _ = principal_with_key(demo, made["tenant"], "end_user", "Another User")
    other = persona(other_id)
    answer = other.goto(f"{demo.gateway_url}{base}/who-read")
    assert answer is not None and answer.status == 404
    assert other.locator("[data-code]").get_attribute("data-code") == "mailbox_not_found"
    check(other, shot, "privacy-15-other-users-mailbox")
