"""Page sessions end to end over HTTP: the CRM asks for a person's one-time link, the link
sets an HttpOnly cookie once, the cookie authenticates the person's pages as the same Caller an
API key would (one enforcement point, one log), and sessions end by expiry, logout or the CRM."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.kit.db import Database
from gateway.pages.security import CONTENT_SECURITY_POLICY
from gateway.pages.sessions import secure_cookies
from gateway.sessions.models import PageSession
from gateway.settings import Environment, Settings
from tests.pages.support import ask_link, csrf_of, link_path, log_entries, sign_in
from tests.support.database import rows_as_text
from tests.support.world import TenantWorld

HOMES = [("end_user", "/me", "Privacy center"), ("operator", "/desk", "Access desk"),
         ("reviewer", "/console", "Review console")]


@pytest.mark.parametrize(("kind", "home", "title"), HOMES)
def test_the_crm_link_opens_the_persons_home(browser: TestClient, db: Database,
                                             tenant_a: TenantWorld, kind: str, home: str,
                                             title: str) -> None:
    person = {"end_user": tenant_a.end_user, "operator": tenant_a.operator,
              "reviewer": tenant_a.reviewer}[kind]
    link = ask_link(browser, tenant_a.crm, person.id)
    assert link["url"].startswith("http") and "/session/gwl_" in link["url"]
    assert link["persona"] == {"/me": "privacy", "/desk": "desk", "/console": "console"}[home]

    opened = browser.get(link_path(link), follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == home
    cookie = opened.headers["set-cookie"].lower()
    assert cookie.startswith("gw_session=") and "httponly" in cookie
    assert "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http in test; Secure in prod and behind https

    page = browser.get(home)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in page.text and person.principal.subject in page.text
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"

    opened_entry, = log_entries(db, "session.open")
    assert (opened_entry.decision, opened_entry.actor_id) == ("allow", person.id)
    assert opened_entry.connection_id == f"session:{link['id']}"
    home_entries = [e for e in log_entries(db, "consent.list") + log_entries(db, "audit.query")
                    + log_entries(db, "mail.mailbox.list") if e.actor_id == person.id]
    assert [(e.decision, e.connection_id) for e in home_entries] == [
        ("allow", f"session:{link['id']}")]


def test_a_link_opens_once_and_its_secret_is_never_stored_or_logged(
        browser: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    link = sign_in(browser, tenant_a.crm, tenant_a.end_user)
    cookie = browser.cookies["gw_session"]
    browser.cookies.clear()
    again = browser.get(link_path(link), follow_redirects=False)
    assert again.status_code == 410 and "text/html" in again.headers["content-type"]
    assert 'data-code="session_link_used"' in again.text
    assert again.headers["content-security-policy"] == CONTENT_SECURITY_POLICY

    denied, = [e for e in log_entries(db, "session.open") if e.decision == "deny"]
    assert denied.actor_id == tenant_a.end_user.id and denied.reasons == ["session_link_used"]
    token = link_path(link).rsplit("/", 1)[1]
    with db.transaction() as s:
        conn = s.connection()
        stored = rows_as_text(conn, PageSession.__table__)
        logged = str([(e.resource_ids, e.detail) for e in log_entries(db, "session.open")])
    assert token not in str(stored) and cookie not in str(stored) and token not in logged


def test_an_unknown_link_is_refused_and_logged_anonymously(browser: TestClient, db: Database,
                                                          tenant_a: TenantWorld) -> None:
    refused = browser.get("/session/gwl_" + "x" * 43, follow_redirects=False)
    assert refused.status_code == 404 and 'data-code="session_link_unknown"' in refused.text
    assert "set-cookie" not in refused.headers
    denied, = log_entries(db, "session.open")
    assert (denied.decision, denied.actor_kind, denied.resource_ids) == ("deny", "anonymous", [])


def test_a_page_without_a_session_is_a_logged_401_page(browser: TestClient, db: Database,
                                                      tenant_a: TenantWorld) -> None:
    refused = browser.get("/me")
    assert refused.status_code == 401 and "<h1>Session required</h1>" in refused.text
    assert refused.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "www-authenticate" not in refused.headers
    denied, = log_entries(db, "mail.mailbox.list")
    assert (denied.decision, denied.reasons) == ("deny", ["session_required"])
    as_json = browser.get("/me", headers={"Accept": "application/problem+json"})
    assert as_json.status_code == 401 and as_json.json()["code"] == "session_required"


def test_an_api_key_does_not_open_pages(browser: TestClient, tenant_a: TenantWorld) -> None:
    assert browser.get("/me", headers=tenant_a.end_user.headers()).status_code == 401


def test_logout_needs_the_forms_csrf_token_then_ends_the_session(
        browser: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    sign_in(browser, tenant_a.crm, tenant_a.end_user)
    token = csrf_of(browser.get("/me").text)

    forged = browser.post("/session/logout", data={"csrf_token": "0" * 64})
    assert forged.status_code == 403 and 'data-code="csrf_failed"' in forged.text
    cross_site = browser.post("/session/logout", data={"csrf_token": token},
                              headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    other_site = browser.post("/session/logout", data={"csrf_token": token},
                              headers={"Sec-Fetch-Site": "cross-site", "Origin": "null"})
    assert other_site.status_code == 403
    assert browser.get("/me").status_code == 200  # still signed in
    refusals = log_entries(db, "session.revoke")
    assert [(e.decision, e.reasons) for e in refusals] == [("deny", ["csrf_failed"])] * 3

    out = browser.post("/session/logout", data={"csrf_token": token},
                       headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"})
    assert out.status_code == 200 and "You are signed out" in out.text
    assert 'gw_session=""' in out.headers["set-cookie"] or "max-age=0" in out.headers[
        "set-cookie"].lower()
    assert log_entries(db, "session.revoke")[-1].decision == "allow"


def test_a_revoked_or_expired_session_stops_at_once(browser: TestClient, db: Database,
                                                    tenant_a: TenantWorld) -> None:
    link = sign_in(browser, tenant_a.crm, tenant_a.reviewer)
    assert browser.get("/console").status_code == 200
    ended = browser.delete(f"/v1/sessions/{link['id']}", headers=tenant_a.crm.headers())
    assert ended.status_code == 204
    refused = browser.get("/console")
    assert refused.status_code == 401 and 'data-code="session_revoked"' in refused.text
    assert log_entries(db, "audit.query")[-1].actor_id == tenant_a.reviewer.id  # named

    browser.cookies.clear()
    link = sign_in(browser, tenant_a.crm, tenant_a.end_user)
    with db.transaction() as s:
        s.execute(update(PageSession).where(PageSession.id == uuid.UUID(link["id"])).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    refused = browser.get("/me")
    assert refused.status_code == 401 and 'data-code="session_expired"' in refused.text


def test_sessions_stay_within_the_tenant_and_the_crm(browser: TestClient, db: Database,
                                                     tenant_a: TenantWorld,
                                                     tenant_b: TenantWorld) -> None:
    other = browser.post("/v1/sessions", headers=tenant_a.crm.headers(),
                         json={"principal_id": tenant_b.end_user.id})
    assert other.status_code == 404 and other.json()["code"] == "principal_not_found"
    denied, = log_entries(db, "session.create")
    assert (denied.decision, denied.reasons) == ("deny", ["not_found"])

    by_user = browser.post("/v1/sessions", headers=tenant_a.end_user.headers(),
                           json={"principal_id": tenant_a.end_user.id})
    assert by_user.status_code == 403
    for_service = browser.post("/v1/sessions", headers=tenant_a.crm.headers(),
                               json={"principal_id": tenant_a.crm.id})
    assert for_service.status_code == 422 and for_service.json()["code"] == "no_pages_for_kind"
    too_long = browser.post("/v1/sessions", headers=tenant_a.crm.headers(),
                            json={"principal_id": tenant_a.end_user.id, "ttl_seconds": 86400})
    assert too_long.status_code == 422

    link = sign_in(browser, tenant_a.crm, tenant_a.end_user)
    revoke_other = browser.delete(f"/v1/sessions/{link['id']}", headers=tenant_b.crm.headers())
    assert revoke_other.status_code == 404


def test_unknown_page_paths_and_static_files(browser: TestClient, tenant_a: TenantWorld,
                                             db: Database) -> None:
    sign_in(browser, tenant_a.crm, tenant_a.end_user)
    missing = browser.get("/me/nothing-here")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert missing.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    css = browser.get("/pages/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["x-content-type-options"] == "nosniff"
    assert browser.get("/pages/static/../app.py").status_code == 404
    assert browser.get("/pages/static/nothing.css").status_code == 404
    with db.transaction() as s:
        assert s.scalar(select(PageSession.opened_at)) is not None


def test_cookies_are_secure_in_production_and_behind_https(settings: Settings) -> None:
    assert not secure_cookies(settings)  # the test app: plain http
    assert secure_cookies(settings.model_copy(update={"environment": Environment.prod}))
    assert secure_cookies(settings.model_copy(
        update={"public_base_url": "https://gateway.example"}))
