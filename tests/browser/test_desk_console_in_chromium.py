"""The access desk and the review console in Debian's Chromium on the demo: an operator asks
for access to a message, the owner approves it in the privacy center, the operator opens the
grant and reads the message (another message stays redacted, its content refused); a reviewer
searches the log, opens the read's entry and verifies it, verifies the whole log, exports it,
and records and revokes a justification. Every page passes axe-core (no serious or critical
violation) and is kept as a screenshot.

Screenshots (artifacts/screenshots/): desk-01-home, desk-02-new-request,
desk-03-request-errors, desk-04-request-sent, desk-05-approved, desk-06-grant, desk-07-message,
desk-08-metadata-redacted, desk-09-content-refused, desk-10-not-found, desk-11-home-phone,
desk-12-thread-metadata-redacted,
console-01-search, console-02-search-filtered, console-03-entry, console-04-entry-verified,
console-05-verify, console-06-search-errors, console-07-justifications, console-08-record,
console-09-recorded, console-10-revoked, console-11-search-phone.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from typing import Any

import pytest

from tests.browser.accessibility import assert_accessible
from tests.demo_world import (
    Demo,
    demo_cli,
    gmail_gateway_demo,
    synced_demo_mailbox,
)

pytestmark = [pytest.mark.demo, pytest.mark.browser]

WHY = "The customer asked why this message was flagged as spam"


def principal(demo: Demo, kind: str, subject: str, name: str) -> str:
    """The demo tenant's principal of this kind and subject, created if missing."""
    for found in demo_cli(demo, "principals", "list", "--tenant", "demo"):
        if found["kind"] == kind and found["subject"] == subject:
            return str(found["id"])
    made = demo_cli(demo, "principals", "create", "--tenant", "demo", "--kind", kind, "--subject",
               subject, "--display-name", name, "--group", "support")
    return str(made["id"])


def reviewer_of(demo: Demo) -> str:
    return next(str(p["id"]) for p in demo_cli(demo, "principals", "list", "--tenant", "demo")
                if p["kind"] == "reviewer")


def synced_mailbox(demo: Demo) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    """The demo's mailbox (connected and synced here if no test did it before), the CRM's key
    and two of its messages."""
    made = gmail_gateway_demo(demo)
    mailbox, messages = synced_demo_mailbox(demo, made, limit=50)
    first = messages[0]
    other = next(m for m in messages if m["thread_id"] != first["thread_id"])
    return mailbox, made["end_user_id"], [first, other]


def go(page: Any, control: Any) -> None:
    """Click a link or a form's button and wait for the page it leads to."""
    with page.expect_navigation():
        control.click()


def fits_the_screen(page: Any) -> bool:
    """Nothing makes the page scroll sideways (wide tables scroll inside their own box)."""
    return bool(page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth"))


def checked(page: Any, shot: Any, name: str) -> None:
    assert_accessible(page)
    shot(page, name)


def test_an_operator_asks_reads_under_the_grant_and_a_reviewer_verifies_it(
        demo: Demo, persona: Any, shot: Any) -> None:
    mailbox, end_user, (wanted, other) = synced_mailbox(demo)
    box = f"/desk/mailboxes/{mailbox['id']}"
    operator = principal(demo, "operator", "dana@support.demo", "Dana Support")

    desk = persona(operator)
    assert desk.locator("h1").inner_text() == "Access desk"
    checked(desk, shot, "desk-01-home")
    desk.get_by_label("Mailbox id").fill(mailbox["id"])
    desk.get_by_label("Message ids").fill(wanted["id"])
    go(desk, desk.get_by_role("button", name="Continue"))
    assert desk.locator("h1").inner_text() == "Ask for access"
    checked(desk, shot, "desk-02-new-request")

    desk.get_by_label("Justification").fill("too short")
    desk.get_by_label("Justification").evaluate("e => e.removeAttribute('minlength')")
    go(desk, desk.get_by_role("button", name="Send the request"))
    assert desk.locator("#justification-error").is_visible()
    checked(desk, shot, "desk-03-request-errors")
    desk.get_by_label("Justification").fill(WHY)
    go(desk, desk.get_by_role("button", name="Send the request"))
    assert "Your request was sent" in desk.content()
    request_id = desk.url.split("created=", 1)[1].split("#", 1)[0]
    assert desk.locator("#status-pending").is_visible()
    checked(desk, shot, "desk-04-request-sent")

    owner = persona(end_user, f"/me/mailboxes/{mailbox['id']}/access")
    assert WHY in owner.content()
    go(owner, owner.locator(f'form[action$="/requests/{request_id}/decision"] '
                            'button[value="approve"]'))

    desk.reload()
    checked(desk, shot, "desk-05-approved")
    go(desk, desk.locator(f"#request-{request_id}").get_by_role("link", name="Open grant"))
    assert desk.locator("h1").inner_text() == "What this grant covers"
    checked(desk, shot, "desk-06-grant")
    go(desk, desk.get_by_role("link", name=f"Read message {wanted['id']}"))
    assert desk.url.endswith(f"{box}/messages/{wanted['id']}")
    assert desk.locator("pre.message-text").is_visible()
    checked(desk, shot, "desk-07-message")

    desk.goto(f"{demo.gateway_url}{box}/messages/{other['id']}/metadata")
    assert "Withheld by the policy" in desk.content()
    assert other.get("subject") is None or other["subject"] not in desk.content()
    checked(desk, shot, "desk-08-metadata-redacted")
    desk.goto(f"{demo.gateway_url}{box}/threads/{other['thread_id']}/metadata")
    assert desk.locator("h1").inner_text().startswith("Thread")
    assert "Withheld by the policy" in desk.content()
    checked(desk, shot, "desk-12-thread-metadata-redacted")
    refused = desk.goto(f"{demo.gateway_url}{box}/messages/{other['id']}")
    assert refused is not None and refused.status == 403
    assert "consent_required" in desk.content()
    checked(desk, shot, "desk-09-content-refused")
    missing = desk.goto(f"{demo.gateway_url}/desk/mailboxes/{uuid.uuid4()}/messages/"
                        f"{wanted['id']}")
    assert missing is not None and missing.status == 404
    checked(desk, shot, "desk-10-not-found")
    desk.goto(f"{demo.gateway_url}/desk")
    desk.set_viewport_size({"width": 390, "height": 844})
    assert fits_the_screen(desk)
    checked(desk, shot, "desk-11-home-phone")

    console = persona(reviewer_of(demo))
    assert console.locator("h1").inner_text() == "Review console"
    checked(console, shot, "console-01-search")
    console.get_by_label("Actor id").fill(operator)
    console.get_by_label("Action", exact=True).select_option("mail.message.read_content")
    go(console, console.get_by_role("button", name="Search"))
    rows = console.locator("tbody tr")
    assert rows.count() >= 2  # the allowed read and the refused one
    checked(console, shot, "console-02-search-filtered")

    with console.expect_download() as download:
        console.get_by_role("link", name="Export CSV").click()
    exported = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert {row["actor_id"] for row in exported} == {operator}
    assert len(exported) == rows.count()

    go(console, console.get_by_role("link", name="Details").first)
    assert console.locator("h1").inner_text() == "Log entry"
    checked(console, shot, "console-03-entry")
    go(console, console.get_by_role("link", name="Verify this entry"))
    assert console.locator(".badge", has_text="intact").is_visible()
    checked(console, shot, "console-04-entry-verified")

    go(console, console.get_by_role("link", name="Verify", exact=True))
    go(console, console.get_by_role("button", name="Run verification"))
    assert "Every chain verifies" in console.content()
    checked(console, shot, "console-05-verify")
    console.get_by_label("From (UTC, inclusive)").fill("2026-01-01T00:00:00")
    console.get_by_label("To (UTC, exclusive)").fill("2099-01-01T00:00:00")
    with console.expect_download() as report:
        console.get_by_role("button", name="Download the report").click()
    with zipfile.ZipFile(report.value.path()) as archive:
        assert "signature.json" in archive.namelist()

    console.goto(f"{demo.gateway_url}/console?decision=maybe&since=yesterday")
    assert console.locator("#decision-error").is_visible()
    checked(console, shot, "console-06-search-errors")

    go(console, console.get_by_role("link", name="Justifications"))
    checked(console, shot, "console-07-justifications")
    console.get_by_label("Mailbox id").fill(mailbox["id"])
    go(console, console.get_by_role("button", name="Continue"))
    assert console.locator("h1").inner_text() == "Record a justification"
    checked(console, shot, "console-08-record")
    console.get_by_label("Case reference").fill("SEC-2026-0042")
    console.get_by_label("Reason").fill("Phishing reported by the user; check the headers")
    console.get_by_label("Operator id").fill(operator)
    go(console, console.get_by_role("button", name="Record a security justification"))
    assert "The justification was recorded" in console.content()
    checked(console, shot, "console-09-recorded")
    go(console, console.get_by_role("button", name="Revoke SEC-2026-0042").first)
    assert "The justification was revoked" in console.content()
    checked(console, shot, "console-10-revoked")

    console.goto(f"{demo.gateway_url}/console")
    console.set_viewport_size({"width": 390, "height": 844})
    assert fits_the_screen(console)
    checked(console, shot, "console-11-search-phone")
