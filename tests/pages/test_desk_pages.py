"""The operator's access desk over HTTP, signed in by a CRM session link: every page is one
guarded decision with the API's action (and logged as such), the request form is checked by the
API's model, content shows only under a valid grant and the metadata view is redacted otherwise,
and another tenant's or operator's ids get the API's 404s."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from gateway.consent.models import ConsentGrant
from gateway.kit.db import Database
from gateway.runtime import runtime_of
from tests.mail.factories import make_raw, store_message
from tests.pages.support import csrf_of, log_entries, sign_in
from tests.support.world import TenantWorld

SECRET_SUBJECT = "Acquisition terms draft"
SECRET_BODY = "The price we can accept is 4.2M."
WHY = "The customer asked us to check why this message bounced"


@pytest.fixture
def mail(browser: TestClient, db: Database, tenant_a: TenantWorld) -> TenantWorld:
    crypto = runtime_of(browser.app).crypto
    store_message(db, crypto, tenant_a.mailbox, "18c0a1", "t100",
                  make_raw(SECRET_SUBJECT, SECRET_BODY))
    store_message(db, crypto, tenant_a.mailbox, "18c0a2", "t100", make_raw("Re: terms", "ok"))
    store_message(db, crypto, tenant_a.mailbox, "18c0b1", "t200", make_raw("Lunch?", "noon"))
    return tenant_a


def ask(browser: TestClient, world: TenantWorld, **fields: str) -> str:
    """Open the request form for the mailbox and send it; returns the new request's id."""
    form = browser.get("/desk/requests/new", params={"mailbox_id": str(world.mailbox.id),
                                                     "message_ids": fields.get("message_ids",
                                                                               "")})
    assert form.status_code == 200, form.text
    sent = browser.post(f"/desk/mailboxes/{world.mailbox.id}/requests", data={
        "csrf_token": csrf_of(form.text), "justification": WHY, "requested_minutes": "30",
        **fields}, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    assert location.startswith("/desk?created=")
    return location.split("=", 1)[1].split("#", 1)[0]


def approve(client: TestClient, world: TenantWorld, request_id: str) -> str:
    decided = client.post(f"/v1/mailboxes/{world.mailbox.id}/consent/requests/{request_id}"
                          "/decision", json={"approve": True},
                          headers=world.end_user.headers("consent_management"))
    assert decided.status_code == 200, decided.text
    return str(decided.json()["grant_id"])


def test_an_operator_asks_and_follows_the_request(browser: TestClient, db: Database,
                                                  mail: TenantWorld) -> None:
    link = sign_in(browser, mail.crm, mail.operator)
    request_id = ask(browser, mail, message_ids="18c0a1")
    home = browser.get(f"/desk?created={request_id}")
    assert home.status_code == 200
    assert "<h1>Access desk</h1>" in home.text and "Your request was sent" in home.text
    assert f'id="request-{request_id}"' in home.text and WHY in home.text
    pending = home.text.split('id="status-pending"', 1)[1].split('id="status-approved"', 1)[0]
    assert request_id in pending

    made, = log_entries(db, "consent.request.create")
    assert (made.decision, made.actor_id, made.purpose) == (
        "allow", mail.operator.id, "consent_management")
    assert made.connection_id == f"session:{link['id']}"
    assert made.mailbox_id == mail.mailbox.id

    grant_id = approve(browser, mail, request_id)
    approved = browser.get("/desk").text
    section = approved.split('id="status-approved"', 1)[1].split('id="status-refused"', 1)[0]
    assert request_id in section
    assert f"/desk/mailboxes/{mail.mailbox.id}/grants/{grant_id}" in approved


def test_the_form_answers_the_apis_validation_on_its_fields(browser: TestClient, db: Database,
                                                             mail: TenantWorld) -> None:
    sign_in(browser, mail.crm, mail.operator)
    form = browser.get("/desk/requests/new", params={"mailbox_id": str(mail.mailbox.id)})
    token = csrf_of(form.text)
    url = f"/desk/mailboxes/{mail.mailbox.id}/requests"
    short = browser.post(url, data={"csrf_token": token, "message_ids": "18c0a1",
                                    "justification": "short", "requested_minutes": "30"})
    assert short.status_code == 422
    assert 'id="justification-error"' in short.text and 'aria-invalid="true"' in short.text
    nothing = browser.post(url, data={"csrf_token": token, "justification": WHY,
                                      "requested_minutes": "30"})
    assert nothing.status_code == 422 and "message id or thread id" in nothing.text
    too_long = browser.post(url, data={"csrf_token": token, "message_ids": "18c0a1",
                                       "justification": WHY, "requested_minutes": "10080"})
    assert too_long.status_code == 422  # longer than the deployment's maximum grant
    assert browser.get("/desk").text.count('id="request-') == 0

    forged = browser.post(url, data={"message_ids": "18c0a1", "justification": WHY,
                                     "requested_minutes": "30"}, follow_redirects=False)
    assert forged.status_code == 403 and "csrf_failed" in forged.text
    assert browser.get("/desk").text.count('id="request-') == 0


def test_content_only_under_the_grant_and_redacted_metadata_otherwise(
        browser: TestClient, db: Database, mail: TenantWorld) -> None:
    sign_in(browser, mail.crm, mail.operator)
    grant_id = approve(browser, mail, ask(browser, mail, message_ids="18c0a1"))
    box = f"/desk/mailboxes/{mail.mailbox.id}"

    covers = browser.get(f"{box}/grants/{grant_id}")
    assert covers.status_code == 200
    assert f'href="{box}/messages/18c0a1"' in covers.text and SECRET_BODY not in covers.text

    read = browser.get(f"{box}/messages/18c0a1")
    assert read.status_code == 200, read.text
    assert SECRET_BODY in read.text and SECRET_SUBJECT in read.text
    entry = log_entries(db, "mail.message.read_content")[-1]
    assert (entry.decision, entry.purpose, entry.resource_ids) == ("allow", "support", ["18c0a1"])

    other = browser.get(f"{box}/messages/18c0b1")
    assert other.status_code == 403 and "noon" not in other.text
    assert "consent_required" in other.text
    redacted = browser.get(f"{box}/messages/18c0b1/metadata")
    assert redacted.status_code == 200 and "Lunch?" not in redacted.text
    assert "Withheld by the policy" in redacted.text

    with db.transaction() as s:  # the grant runs out
        s.execute(update(ConsentGrant).where(ConsentGrant.id == uuid.UUID(grant_id))
                  .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    lapsed = browser.get(f"{box}/messages/18c0a1")
    assert lapsed.status_code == 403 and SECRET_BODY not in lapsed.text
    assert "expired" in browser.get(f"{box}/grants/{grant_id}").text


def test_a_thread_grant_reads_the_thread(browser: TestClient, mail: TenantWorld) -> None:
    sign_in(browser, mail.crm, mail.operator)
    grant_id = approve(browser, mail, ask(browser, mail, thread_ids="t100"))
    box = f"/desk/mailboxes/{mail.mailbox.id}"
    assert "2 message(s)" in browser.get(f"{box}/grants/{grant_id}").text
    thread = browser.get(f"{box}/threads/t100")
    assert thread.status_code == 200 and SECRET_BODY in thread.text and "18c0a2" in thread.text
    assert browser.get(f"{box}/threads/t200").status_code == 403
    assert "Lunch?" not in browser.get(f"{box}/threads/t200/metadata").text


def test_another_tenants_or_operators_ids_are_the_apis_404(
        browser: TestClient, db: Database, mail: TenantWorld, tenant_b: TenantWorld) -> None:
    sign_in(browser, mail.crm, mail.operator)
    theirs = tenant_b.mailbox.id
    api_headers = mail.operator.headers("consent_management")
    pages = [("GET", f"/desk/requests/new?mailbox_id={theirs}"),
             ("GET", "/desk/requests/new?mailbox_id=not-a-mailbox"),
             ("GET", f"/desk/mailboxes/{theirs}/grants/{uuid.uuid4()}"),
             ("GET", f"/desk/mailboxes/{theirs}/messages/18c0a1"),
             ("GET", f"/desk/mailboxes/{theirs}/messages/18c0a1/metadata"),
             ("GET", f"/desk/mailboxes/{theirs}/threads/t100")]
    for method, path in pages:
        answer = browser.request(method, path)
        assert answer.status_code == 404, (path, answer.status_code)
        assert "mailbox_not_found" in answer.text
    api = browser.post(f"/v1/mailboxes/{theirs}/consent/requests", headers=api_headers,
                       json={"message_ids": ["18c0a1"], "justification": WHY})
    assert api.status_code == 404 and api.json()["code"] == "mailbox_not_found"
    token = csrf_of(browser.get("/desk").text)
    posted = browser.post(f"/desk/mailboxes/{theirs}/requests", data={
        "csrf_token": token, "message_ids": "18c0a1", "justification": WHY})
    assert posted.status_code == 404 and "mailbox_not_found" in posted.text
    refused = [e for e in log_entries(db, "consent.request.create") if e.decision == "deny"]
    api_refusal, page_refusal = refused  # logged alike: the API's refusal, then the page's
    assert page_refusal.reasons == api_refusal.reasons
    assert page_refusal.connection_id.startswith("session:")

    # a grant of this mailbox for another operator (the owner's own, by API)
    colleague = browser.post(f"/v1/mailboxes/{mail.mailbox.id}/consent/grants", json={
        "operator_group": "billing", "message_ids": ["18c0a1"]},
        headers=mail.end_user.headers("consent_management"))
    assert colleague.status_code == 201, colleague.text
    other_grant = browser.get(f"/desk/mailboxes/{mail.mailbox.id}/grants/"
                              f"{colleague.json()['id']}")
    assert other_grant.status_code == 404 and "grant_not_found" in other_grant.text


def test_the_desk_is_the_operators(browser: TestClient, mail: TenantWorld) -> None:
    sign_in(browser, mail.crm, mail.reviewer)
    assert browser.get("/desk").status_code == 403
    assert browser.get(f"/desk/mailboxes/{mail.mailbox.id}/messages/18c0a1").status_code == 403
