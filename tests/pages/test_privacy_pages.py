"""The privacy center over HTTP with a session cookie: every page and form is decided and logged
under the API's policy action for the same thing, does what the API does, and answers another
user's or another tenant's ids with the API's 404."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.consent.models import ConsentGrant, ConsentRequest
from gateway.guard.routing import route_guard
from gateway.kit.app_routes import all_routes
from gateway.kit.db import Database
from gateway.mail.models import Message
from gateway.mailboxes.models import Mailbox
from gateway.pages.privacy.your_data import CONFIRMATIONS
from gateway.policy.vocabulary import MailboxState
from tests.pages.privacy_world import (
    JUSTIFICATION,
    OPERATOR_NAME,
    SECRET_SUBJECT,
    PrivacyWorld,
    build,
    operator_reads,
)
from tests.pages.support import csrf_of, sign_in
from tests.support.world import TenantWorld


def base(world: TenantWorld) -> str:
    return f"/me/mailboxes/{world.mailbox.id}"


def entries(db: Database, action: str, actor_id: str) -> list[AuditEntry]:
    """The actor's entries for `action` made through pages (a session), oldest first."""
    with db.transaction() as s:
        return list(s.scalars(select(AuditEntry).where(
            AuditEntry.action == action, AuditEntry.actor_id == actor_id,
            AuditEntry.connection_id.startswith("session:"))
            .order_by(AuditEntry.occurred_at)))


def post_form(browser: TestClient, page: str, target: str, **fields: str) -> object:
    token = csrf_of(browser.get(page).text)
    return browser.post(target, data={"csrf_token": token, **fields}, follow_redirects=False)


@pytest.fixture
def built(browser: TestClient, db: Database, tenant_a: TenantWorld) -> PrivacyWorld:
    world = build(browser, db, tenant_a)
    sign_in(browser, tenant_a.crm, tenant_a.end_user)
    return world


PAGES = [("", "mail.mailbox.read", "user_facing"),
         ("/access", "consent.list", "consent_management"),
         ("/who-read", "audit.query", "user_rights"),
         ("/cases", "justification.list", "user_rights"),
         ("/data", "mail.mailbox.read", "user_facing"),
         ("/data/confirm/delete", "mail.mailbox.read", "user_facing")]


def test_home_lists_the_owners_mailboxes(browser: TestClient, db: Database,
                                         built: PrivacyWorld) -> None:
    world = built.world
    page = browser.get("/me")
    assert page.status_code == 200, page.text
    assert f'href="{base(world)}/who-read"' in page.text and "Connected" in page.text
    logged = entries(db, "mail.mailbox.list", world.end_user.id)
    assert [(e.decision, e.purpose, e.connection_id[:8]) for e in logged] == [
        ("allow", "user_facing", "session:")]


@pytest.mark.parametrize(("suffix", "action", "purpose"), PAGES)
def test_each_page_is_decided_and_logged_as_the_api(browser: TestClient, db: Database,
                                                   built: PrivacyWorld, suffix: str,
                                                   action: str, purpose: str) -> None:
    world = built.world
    before = len(entries(db, action, world.end_user.id))
    page = browser.get(base(world) + suffix)
    assert page.status_code == 200, page.text
    assert page.text.count("<h1") == 1 and 'aria-current="page"' in page.text
    logged = entries(db, action, world.end_user.id)[before:]
    assert [(e.decision, e.purpose, str(e.mailbox_id)) for e in logged] == [
        ("allow", purpose, str(world.mailbox.id))]


def test_access_page_shows_the_request_in_words(browser: TestClient, built: PrivacyWorld
                                                ) -> None:
    page = browser.get(base(built.world) + "/access").text
    assert f"{OPERATOR_NAME} asks to open" in page
    assert "conversation “Lunch?”" in page and JUSTIFICATION in page
    assert "For 1 hour 30 minutes" in page
    assert f"message “{SECRET_SUBJECT}”" in page  # the active grant


def test_approve_from_the_page_lets_the_operator_read(browser: TestClient, db: Database,
                                                      built: PrivacyWorld) -> None:
    world = built.world
    with db.transaction() as s:
        pending = s.scalar(select(ConsentRequest).where(ConsentRequest.status == "pending"))
        assert pending is not None
    assert operator_reads(browser, world, "18c0b1") == 403
    answer = post_form(browser, base(world) + "/access",
                       f"{base(world)}/requests/{pending.id}/decision", decision="approve",
                       minutes="15")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{base(world)}/access?done=approved"
    assert operator_reads(browser, world, "18c0b1") == 200
    decided, = entries(db, "consent.request.decide", world.end_user.id)
    assert (decided.decision, decided.purpose) == ("allow", "consent_management")
    assert decided.connection_id.startswith("session:")
    assert "You approved the request" in browser.get(answer.headers["location"]).text
    with db.transaction() as s:
        decided_request = s.get(ConsentRequest, pending.id)
        assert decided_request is not None and decided_request.grant_id is not None
        grant = s.get(ConsentGrant, decided_request.grant_id)
        assert grant is not None
        lasts = grant.expires_at - grant.created_at
    assert 14 * 60 < lasts.total_seconds() <= 15 * 60 + 5  # the owner's choice, not the 90 asked

    again = post_form(browser, base(world) + "/access",
                      f"{base(world)}/requests/{pending.id}/decision", decision="refuse")
    assert again.status_code == 409 and "text/html" in again.headers["content-type"]


def test_refuse_and_revoke(browser: TestClient, db: Database, built: PrivacyWorld) -> None:
    world = built.world
    with db.transaction() as s:
        pending = s.scalar(select(ConsentRequest).where(ConsentRequest.status == "pending"))
        assert pending is not None
    refused = post_form(browser, base(world) + "/access",
                        f"{base(world)}/requests/{pending.id}/decision", decision="refuse")
    assert refused.status_code == 303
    assert operator_reads(browser, world, "18c0b1") == 403

    assert operator_reads(browser, world, "18c0a1") == 200
    revoked = post_form(browser, base(world) + "/access",
                        f"{base(world)}/grants/{built.grant_id}/revoke")
    assert revoked.status_code == 303
    assert operator_reads(browser, world, "18c0a1") == 403
    with db.transaction() as s:
        grant = s.get(ConsentGrant, uuid.UUID(built.grant_id))
        assert grant is not None and grant.revoked_by == world.end_user.principal.id
    logged, = entries(db, "consent.grant.revoke", world.end_user.id)
    assert (logged.decision, logged.purpose) == ("allow", "consent_management")


def test_a_bad_decision_value_changes_nothing(browser: TestClient, db: Database,
                                              built: PrivacyWorld) -> None:
    world = built.world
    with db.transaction() as s:
        pending = s.scalar(select(ConsentRequest).where(ConsentRequest.status == "pending"))
        assert pending is not None
    answer = post_form(browser, base(world) + "/access",
                       f"{base(world)}/requests/{pending.id}/decision", decision="maybe")
    assert answer.status_code == 422
    too_long = post_form(browser, base(world) + "/access",
                         f"{base(world)}/requests/{pending.id}/decision", decision="approve",
                         minutes="100000")
    assert too_long.status_code == 422
    with db.transaction() as s:
        assert s.get(ConsentRequest, pending.id).status == "pending"  # type: ignore[union-attr]


def test_who_read_my_mail_names_people_items_and_grounds(browser: TestClient,
                                                         built: PrivacyWorld) -> None:
    page = browser.get(base(built.world) + "/who-read").text
    assert OPERATOR_NAME in page and f"message “{SECRET_SUBJECT}”" in page
    assert "you had not given consent for it" in page
    assert "SEC-2026-0042" in page and "Your grant of" in page
    assert "Listed your messages" in page  # the CRM, in aggregate


def test_a_form_without_its_csrf_token_is_refused(browser: TestClient, db: Database,
                                                  built: PrivacyWorld) -> None:
    world = built.world
    answer = browser.post(f"{base(world)}/grants/{built.grant_id}/revoke",
                          follow_redirects=False)
    assert answer.status_code == 403
    with db.transaction() as s:
        assert s.get(ConsentGrant, uuid.UUID(built.grant_id)).revoked_at is None  # type: ignore[union-attr]
    assert entries(db, "consent.grant.revoke", world.end_user.id)[0].decision == "deny"


def test_restrict_lift_disconnect_and_delete(browser: TestClient, db: Database,
                                             built: PrivacyWorld) -> None:
    world = built.world

    def state() -> tuple[str, object]:
        with db.transaction() as s:
            mailbox = s.get(Mailbox, world.mailbox.id)
            assert mailbox is not None
            return mailbox.state, mailbox.data_deleted_at

    confirm = browser.get(base(world) + "/data/confirm/restrict")
    assert "What will happen" in confirm.text
    assert post_form(browser, base(world) + "/data/confirm/restrict",
                     base(world) + "/restriction").status_code == 303
    assert state()[0] == MailboxState.restricted
    assert operator_reads(browser, world, "18c0a1") == 403
    assert post_form(browser, base(world) + "/data/confirm/lift",
                     base(world) + "/restriction/lift").status_code == 303
    assert state()[0] == MailboxState.active
    assert [e.purpose for e in entries(db, "data.restrict", world.end_user.id)] == [
        "user_rights", "user_rights"]

    assert post_form(browser, base(world) + "/data/confirm/disconnect",
                     base(world) + "/disconnect").status_code == 303
    assert state() == (MailboxState.disconnected, None)
    unavailable = browser.get(base(world) + "/data/confirm/restrict")
    assert "cannot be done" in unavailable.text
    assert f'action="{base(world)}/restriction"' not in unavailable.text
    assert post_form(browser, base(world) + "/data/confirm/delete",
                     base(world) + "/delete").status_code == 303
    assert state()[1] is not None
    with db.transaction() as s:
        left = s.scalar(select(func.count()).select_from(Message)
                        .where(Message.mailbox_id == world.mailbox.id))
    assert left == 0
    assert [e.purpose for e in entries(db, "oauth.disconnect", world.end_user.id)] == [
        "user_rights", "user_rights"]
    for suffix, _, _ in PAGES:  # an erased mailbox still shows what happened to it
        assert browser.get(base(world) + suffix).status_code == 200, suffix
    access = browser.get(base(world) + "/access").text
    assert "(erased)" in access and "cannot be answered while the mailbox is disconnected" in access
    assert SECRET_SUBJECT not in access and "message 18c0a1" in access
    assert "Revoke now" in access


def test_export_downloads_the_mailbox(browser: TestClient, db: Database,
                                      built: PrivacyWorld) -> None:
    world = built.world
    download = browser.get(base(world) + "/data/export")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in download.headers["content-disposition"]
    lines = [json.loads(line) for line in download.text.splitlines()]
    assert lines[0]["type"] == "mailbox" and lines[-1] == {"type": "end", "messages": 3}
    logged, = entries(db, "data.export", world.end_user.id)
    assert (logged.decision, logged.purpose) == ("allow", "user_rights")


def test_reconnect_and_sync_now(browser: TestClient, db: Database, built: PrivacyWorld) -> None:
    world = built.world
    answer = post_form(browser, base(world), base(world) + "/reconnect", feature="organise")
    assert answer.status_code == 303 and "/connect/" in answer.headers["location"]
    logged, = entries(db, "oauth.connect", world.end_user.id)
    assert (logged.decision, logged.purpose) == ("allow", "user_facing")
    unknown = post_form(browser, base(world), base(world) + "/reconnect", feature="everything")
    assert unknown.status_code == 422

    synced = post_form(browser, base(world), base(world) + "/sync")
    assert synced.status_code == 303 and synced.headers["location"].endswith("done=sync_requested")
    with db.transaction() as s:
        assert s.get(Mailbox, world.mailbox.id).sync_requested_at is not None  # type: ignore[union-attr]


def test_another_users_and_another_tenants_ids_are_404(browser: TestClient, db: Database,
                                                       built: PrivacyWorld,
                                                       tenant_b: TenantWorld) -> None:
    world = built.world
    with db.transaction() as s:
        pending = s.scalar(select(ConsentRequest).where(ConsentRequest.status == "pending"))
        assert pending is not None
    targets = [("GET", base(world) + suffix) for suffix, _, _ in PAGES] + [
        ("GET", base(world) + "/data/export"),
        ("POST", f"{base(world)}/requests/{pending.id}/decision"),
        ("POST", f"{base(world)}/grants/{built.grant_id}/revoke"),
        ("POST", base(world) + "/restriction"), ("POST", base(world) + "/delete"),
        ("POST", base(world) + "/reconnect")]
    for intruder in (world.other_user, tenant_b.end_user):
        browser.cookies.clear()
        sign_in(browser, tenant_b.crm if intruder is tenant_b.end_user else world.crm, intruder)
        token = csrf_of(browser.get("/me").text)
        for method, path in targets:
            answer = browser.request(method, path, data={"csrf_token": token,
                                                         "decision": "approve"}
                                     if method == "POST" else None, follow_redirects=False)
            assert answer.status_code == 404, (intruder.principal.subject, method, path)
            assert 'data-code="mailbox_not_found"' in answer.text
    with db.transaction() as s:
        assert s.get(ConsentRequest, pending.id).status == "pending"  # type: ignore[union-attr]
        assert s.get(Mailbox, world.mailbox.id).state == "active"  # type: ignore[union-attr]
    refused = entries(db, "consent.request.decide", world.other_user.id)
    assert [(e.decision, e.reasons) for e in refused] == [("deny", ["not_found"])]


def test_a_grant_of_another_mailbox_is_404(browser: TestClient, db: Database,
                                           built: PrivacyWorld, tenant_b: TenantWorld) -> None:
    world = built.world
    with db.transaction() as s:
        other = Mailbox(tenant_id=world.tenant.id, owner_principal_id=world.end_user.principal.id)
        s.add(other)
    answer = post_form(browser, "/me", f"/me/mailboxes/{other.id}/grants/{built.grant_id}/revoke")
    assert answer.status_code == 404 and 'data-code="grant_not_found"' in answer.text
    unknown = browser.get(base(world) + "/data/confirm/everything")
    assert unknown.status_code == 404


def test_confirmations_post_to_the_route_of_their_action(client: TestClient) -> None:
    guards = {route.path: route_guard(route) for route in all_routes(client.app)
              if isinstance(route, APIRoute) and "POST" in (route.methods or ())}
    for confirmation in CONFIRMATIONS.values():
        guard = guards[f"/me/mailboxes/{{mailbox_id}}/{confirmation.path}"]
        assert guard is not None and guard.action == confirmation.action


def test_who_read_pages_on_and_refuses_a_forged_cursor(
        browser: TestClient, built: PrivacyWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.pages.privacy import access_log

    first = browser.get(base(built.world) + "/who-read")
    assert "Older accesses" not in first.text  # a handful of entries: one page
    monkeypatch.setattr(access_log, "PAGE_SIZE", 2)
    paged = browser.get(base(built.world) + "/who-read")
    older = re.search(r'href="([^"]+cursor=[^"]+)">Older accesses', paged.text)
    assert older is not None
    assert browser.get(older.group(1).replace("&amp;", "&")).status_code == 200
    forged = browser.get(base(built.world) + "/who-read?cursor=not-a-cursor")
    assert forged.status_code == 400 and "text/html" in forged.headers["content-type"]
