"""The gateway's own result page, shown when the CRM asked for a consent link without a return
URL: connected (granted and missing features, a link to add the missing ones) or not connected
(why, and a fresh single-use link to try again)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from emulator.testing import RunningEmulator
from gateway.accounts.models import Principal
from gateway.kit.db import Database
from gateway.kit.timeutil import utcnow
from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import SCOPE_SEND
from tests.support.world import TenantWorld

from .conftest import GOOGLE_ALICE, consent_at_google, follow_callback, page_links


def _link_without_return_url(gw: TestClient, world: TenantWorld, features: list[str]) -> str:
    response = gw.post("/v1/connect", headers=world.crm.headers(),
                       json={"end_user_id": world.end_user.id, "features": features})
    assert response.status_code == 201, response.text
    return str(response.json()["consent_url"])


def _finish(gw: TestClient, emu: RunningEmulator, consent_url: str, **how: object) -> str:
    callback_url = consent_at_google(gw, emu, consent_url, **how)  # type: ignore[arg-type]
    page = follow_callback(gw, callback_url)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    return str(page.text)


def _mailboxes(db: Database) -> list[Mailbox]:
    """The mailboxes a consent connected (the tenant's fixture mailbox never was)."""
    with db.transaction() as s:
        return list(s.scalars(select(Mailbox).where(Mailbox.connected_at.is_not(None))))


def test_connected_page_names_the_account_and_every_granted_feature(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    html = _finish(gw, emu, _link_without_return_url(gw, tenant_a, ["read", "send"]))

    assert 'data-status="connected"' in html
    assert GOOGLE_ALICE in html
    assert 'data-feature="read"' in html and 'data-feature="send"' in html
    assert 'id="missing"' not in html and 'id="retry"' not in html
    assert [m.state for m in _mailboxes(db)] == ["active"]


def test_unticked_send_is_listed_as_missing_with_a_link_that_adds_it(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    html = _finish(gw, emu, _link_without_return_url(gw, tenant_a, ["read", "send"]),
                   untick=(SCOPE_SEND,))

    granted, missing = html.split('id="missing"', 1)
    assert 'data-feature="read"' in granted and 'data-feature="send"' not in granted
    assert 'data-feature="send"' in missing
    again = page_links(html)["retry"]
    assert SCOPE_SEND not in _mailboxes(db)[0].granted_scopes

    html = _finish(gw, emu, again)  # this time everything stays ticked
    assert 'data-status="connected"' in html and 'id="missing"' not in html
    [mailbox] = _mailboxes(db)  # the same mailbox, now with send
    assert SCOPE_SEND in mailbox.granted_scopes


def test_refusal_says_why_and_offers_a_fresh_link_that_works(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    first = _link_without_return_url(gw, tenant_a, ["read"])
    html = _finish(gw, emu, first, deny=True)

    assert 'data-status="denied"' in html
    assert '<code id="code">access_denied</code>' in html
    assert "refused access" in html
    assert _mailboxes(db) == []
    retry = page_links(html)["retry"]
    assert retry != first
    # The used link stays used; the fresh one connects.
    assert gw.get(first, headers={"Accept": "text/html"}).status_code == 400
    assert 'data-status="connected"' in _finish(gw, emu, retry)
    assert len(_mailboxes(db)) == 1


def test_cancel_on_the_gateways_page_ends_on_the_refusal_page(
        gw: TestClient, tenant_a: TenantWorld) -> None:
    page = gw.get(_link_without_return_url(gw, tenant_a, ["read"]),
                  headers={"Accept": "text/html"})
    cancelled = follow_callback(gw, page_links(page.text)["cancel"])

    assert cancelled.status_code == 200
    assert 'data-status="denied"' in cancelled.text and 'id="retry"' in cancelled.text


def test_a_disabled_end_user_gets_no_retry_link(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    link = _link_without_return_url(gw, tenant_a, ["read"])
    callback_url = consent_at_google(gw, emu, link)
    with db.transaction() as s:
        s.execute(update(Principal).where(Principal.id == tenant_a.end_user.principal.id)
                  .values(disabled_at=utcnow()))
    html = follow_callback(gw, callback_url).text

    assert 'data-status="error"' in html and "principal_disabled" in html
    assert 'id="retry"' not in html
