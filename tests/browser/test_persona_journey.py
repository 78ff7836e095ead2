"""The persona journey on the demo, in Debian's Chromium, one person per browser context:

1. a tenant admin (made once with the command line) provisions an operator and a reviewer over
   the provisioning API and sends the operator to the access desk (a session link it mints);
2. the operator asks for access to one message of the demo user's mailbox, with a
   justification;
3. the user, sent to the privacy center by the CRM, sees the request with the operator's
   name and approves it;
4. the operator opens the grant on the desk and reads the message;
5. the user sees that read in "who read my mail", named and under their grant;
6. the reviewer finds the read in the review console's log search, opens its entry, verifies
   the entry and then the whole log.

Every page passes axe-core (no serious or critical violation) and is kept as a screenshot
(artifacts/screenshots/): journey-01-desk-home, journey-02-desk-ask, journey-03-desk-sent,
journey-04-privacy-pending, journey-05-privacy-approved, journey-06-desk-grant,
journey-07-desk-message, journey-08-privacy-who-read, journey-09-console-search,
journey-10-console-entry, journey-11-console-entry-verified, journey-12-console-verify.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.browser.accessibility import assert_accessible
from tests.browser.personas import open_persona
from tests.demo_world import (
    Demo,
    demo_cli,
    gmail_gateway_demo,
    synced_demo_mailbox,
)

pytestmark = [pytest.mark.demo, pytest.mark.browser]

RUN = uuid.uuid4().hex[:6]
OPERATOR_NAME = f"Jordan Journey {RUN}"
REVIEWER_NAME = f"Riley Review {RUN}"
WHY = f"Case {RUN}: the customer says this message never arrived; I need to check it."


def admin_key(demo: Demo, tenant: str) -> str:
    """The tenant's first admin key, as docs/provisioning.md makes it: two commands."""
    admin = demo_cli(demo, "principals", "create", "--tenant", tenant, "--kind", "tenant_admin",
                "--subject", f"admin-{RUN}", "--display-name", "Demo admin")
    return str(demo_cli(demo, "api-keys", "create", "--tenant", tenant, "--principal",
                   str(admin["id"]))["api_key"])


def provision(gateway_url: str, key: str, kind: str, subject: str, name: str) -> str:
    with httpx.Client(base_url=gateway_url, timeout=30, headers={
            "Authorization": f"Bearer {key}", "Gateway-Purpose": "administration"}) as api:
        made = api.post("/v1/principals", json={"kind": kind, "subject": subject,
                                                "display_name": name, "groups": ["support"]})
        assert made.status_code == 201, made.text
        return str(made.json()["id"])


def synced_message(demo: Demo, made: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The demo user's mailbox (connected and synced here if no test did it before) and one of
    its messages."""
    mailbox, messages = synced_demo_mailbox(demo, made, limit=20)
    return str(mailbox["id"]), messages[-1]


def checked(page: Any, shot: Any, name: str) -> None:
    assert_accessible(page)
    shot(page, name)


def test_operator_asks_user_approves_operator_reads_user_sees_it_reviewer_verifies(
        demo: Demo, chromium: Any, persona: Any, shot: Any) -> None:
    made = gmail_gateway_demo(demo)
    mailbox, message = synced_message(demo, made)
    key = admin_key(demo, made["tenant"])
    operator = provision(demo.gateway_url, key, "operator", f"agent-{RUN}", OPERATOR_NAME)
    reviewer = provision(demo.gateway_url, key, "reviewer", f"secops-{RUN}", REVIEWER_NAME)

    # 1-2. The operator, sent to the desk by the admin, asks for one message.
    context = chromium.new_context(viewport={"width": 1000, "height": 900})
    context.set_default_timeout(30_000)
    desk = context.new_page()
    try:
        open_persona(desk, demo.gateway_url, key, operator, purpose="administration")
        assert desk.locator("h1").inner_text() == "Access desk"
        checked(desk, shot, "journey-01-desk-home")
        desk.get_by_label("Mailbox id").fill(mailbox)
        desk.get_by_label("Message ids").fill(message["id"])
        desk.get_by_role("button", name="Continue").click()
        assert desk.locator("h1").inner_text() == "Ask for access"
        desk.get_by_label("Justification").fill(WHY)
        checked(desk, shot, "journey-02-desk-ask")
        desk.get_by_role("button", name="Send the request").click()
        assert "Your request was sent" in desk.content()
        checked(desk, shot, "journey-03-desk-sent")

        # 3. The user approves it in the privacy center.
        owner = persona(made["end_user_id"], f"/me/mailboxes/{mailbox}/access")
        card = owner.locator("section.card", has_text=WHY)
        assert OPERATOR_NAME in card.inner_text()
        request_id = str(card.get_attribute("aria-labelledby")).removeprefix("request-")
        checked(owner, shot, "journey-04-privacy-pending")
        card.get_by_role("button", name="Approve").click()
        owner.wait_for_selector("text=You approved the request")
        checked(owner, shot, "journey-05-privacy-approved")

        # 4. The operator opens the grant and reads the message.
        desk.goto(f"{demo.gateway_url}/desk")
        desk.locator(f"#request-{request_id}").get_by_role("link", name="Open grant").click()
        assert desk.locator("h1").inner_text() == "What this grant covers"
        checked(desk, shot, "journey-06-desk-grant")
        desk.get_by_role("link", name=f"Read message {message['id']}").click()
        assert desk.url.endswith(f"/desk/mailboxes/{mailbox}/messages/{message['id']}")
        assert desk.locator("pre.message-text").is_visible()
        checked(desk, shot, "journey-07-desk-message")
    finally:
        context.close()

    # 5. The user sees the read in "who read my mail".
    owner.get_by_role("link", name="Who read my mail").click()
    row = owner.locator("table tbody tr", has_text=OPERATOR_NAME).first
    assert "read the message" in row.inner_text() and "Your grant of" in row.inner_text()
    checked(owner, shot, "journey-08-privacy-who-read")

    # 6. The reviewer finds the read in the console and verifies the log.
    console = persona(reviewer)
    assert console.locator("h1").inner_text() == "Review console"
    console.get_by_label("Actor id").fill(operator)
    console.get_by_label("Action", exact=True).select_option("mail.message.read_content")
    console.get_by_role("button", name="Search").click()
    rows = console.locator("tbody tr")
    assert rows.count() == 1 and "allow" in rows.first.inner_text()
    checked(console, shot, "journey-09-console-search")
    console.get_by_role("link", name="Details").first.click()
    assert console.locator("h1").inner_text() == "Log entry"
    assert message["id"] in console.content() and operator in console.content()
    checked(console, shot, "journey-10-console-entry")
    console.get_by_role("link", name="Verify this entry").click()
    assert console.locator(".badge", has_text="intact").is_visible()
    checked(console, shot, "journey-11-console-entry-verified")
    console.get_by_role("link", name="Verify", exact=True).click()
    console.get_by_role("button", name="Run verification").click()
    assert "Every chain verifies" in console.content()
    checked(console, shot, "journey-12-console-verify")
