"""The privacy center's view layer on a world made through the API: operators named, items by
subject for the owner only, every human access in words with its grant or case reference, the
CRM's access counted, and each mailbox's state, features and sync progress."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import update

from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from gateway.pages.privacy.access_log import service_aggregate, who_read_page
from gateway.pages.privacy.cases import cases_page
from gateway.pages.privacy.human_access import (
    DECIDABLE_STATES,
    durations,
    human_access_page,
)
from gateway.pages.privacy.mailboxes import (
    RECONNECTABLE,
    mailbox_card,
    own_mailboxes,
    sync_progress,
)
from gateway.pages.privacy.words import duration_words
from gateway.pages.privacy.your_data import CONFIRMATIONS, Step, data_choices
from gateway.policy.vocabulary import MailboxState
from gateway.runtime import runtime_of
from tests.pages.privacy_world import (
    JUSTIFICATION,
    OPERATOR_NAME,
    REVIEWER_NAME,
    SECRET_SUBJECT,
    build,
    namer_for,
    owner_access,
)
from tests.support.world import TenantWorld

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def test_requests_and_grants_name_the_operator_and_the_subject(
        client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    built = build(client, db, tenant_a)
    with db.transaction() as s:
        access, mailbox = owner_access(client, s, tenant_a)
        page = human_access_page(s, runtime_of(client.app).crypto,
                                 namer_for(client, s, access, mailbox), mailbox,
                                 max_hours=4)
    assert len(page.pending) == 1
    pending = page.pending[0]
    assert pending.operator == OPERATOR_NAME
    assert [i.label for i in pending.items] == ["conversation “Lunch?”"]
    assert pending.justification == JUSTIFICATION
    assert pending.requested_words == "1 hour 30 minutes"
    assert pending.durations == [
        (90, "1 hour 30 minutes (as asked)"), (15, "15 minutes"), (30, "30 minutes"),
        (60, "1 hour"), (120, "2 hours"), (240, "4 hours")]

    assert [str(r.id) for r in page.decided] == [built.request_id]
    assert page.decided[0].status == "approved"
    assert [str(g.id) for g in page.active_grants] == [built.grant_id]
    grant = page.active_grants[0]
    assert grant.grantee == OPERATOR_NAME
    assert [i.label for i in grant.items] == [f"message “{SECRET_SUBJECT}”"]
    assert page.past_grants == []


def test_subjects_are_for_the_owner_only(client: TestClient, db: Database,
                                         tenant_a: TenantWorld) -> None:
    build(client, db, tenant_a)
    with db.transaction() as s:
        access, mailbox = owner_access(client, s, tenant_a, actor=tenant_a.crm)
        page = human_access_page(s, runtime_of(client.app).crypto,
                                 namer_for(client, s, access, mailbox), mailbox,
                                 max_hours=4)
    labels = [i.label for c in page.pending + page.decided for i in c.items]
    assert labels == ["conversation t200", "message 18c0a1"]
    assert all(i.subject is None for g in page.active_grants for i in g.items)


def test_who_read_my_mail_in_words(client: TestClient, db: Database,
                                   tenant_a: TenantWorld) -> None:
    built = build(client, db, tenant_a)
    with db.transaction() as s:
        access, mailbox = owner_access(client, s, tenant_a, action="audit.query",
                                       purpose="user_rights")
        page = who_read_page(s, namer_for(client, s, access, mailbox), mailbox)
    reads = [line for line in page.lines if line.did == "read the message"]
    assert len(reads) == 3
    justified, refused, granted = reads  # newest first
    assert granted.who == OPERATOR_NAME and granted.allowed
    assert [i.label for i in granted.items] == [f"message “{SECRET_SUBJECT}”"]
    assert granted.why == "to help you, with your consent"
    assert granted.grant is not None and granted.grant.id == built.grant_id
    assert granted.grant.status == "active" and granted.case is None
    assert not refused.allowed
    assert refused.refused_because == "you had not given consent for it"
    assert [i.label for i in refused.items] == ["message “Lunch?”"]
    assert justified.allowed and justified.flagged
    assert justified.case is not None
    assert (justified.case.kind, justified.case.case_ref) == ("security", "SEC-2026-0042")
    assert justified.why == "for a security investigation"
    asked = [line for line in page.lines if line.did == "asked you for access"]
    assert len(asked) == 2 and all(line.who == OPERATOR_NAME for line in asked)
    assert page.next_cursor is None


def test_the_crm_service_is_counted_not_listed(client: TestClient, db: Database,
                                               tenant_a: TenantWorld) -> None:
    build(client, db, tenant_a)
    with db.transaction() as s:
        mailbox = s.get(Mailbox, tenant_a.mailbox.id)
        assert mailbox is not None
        lines = service_aggregate(s, mailbox)
        reviewers = service_aggregate(s, mailbox, kind="reviewer")
    listed = [line for line in lines if line.action == "mail.message.list"]
    assert len(listed) == 1
    assert (listed[0].count, listed[0].decision) == (3, "allow")
    assert listed[0].did == "listed your messages"
    assert listed[0].why == "for the email features of the CRM you use"
    assert [(r.did, r.count) for r in reviewers] == [("recorded a security or legal case", 1)]


def test_who_read_pages_with_a_cursor(client: TestClient, db: Database,
                                      tenant_a: TenantWorld) -> None:
    build(client, db, tenant_a)
    from gateway.pages.privacy.access_log import human_accesses

    with db.transaction() as s:
        access, mailbox = owner_access(client, s, tenant_a, action="audit.query",
                                       purpose="user_rights")
        namer = namer_for(client, s, access, mailbox)
        first, cursor = human_accesses(s, namer, mailbox, limit=2)
        assert cursor is not None
        rest, _ = human_accesses(s, namer, mailbox, cursor=cursor, limit=50)
        everything, _ = human_accesses(s, namer, mailbox, limit=50)
    assert [x.occurred_at for x in first + rest] == [x.occurred_at for x in everything]


def test_cases_show_the_reference_not_the_reason(client: TestClient, db: Database,
                                                 tenant_a: TenantWorld) -> None:
    build(client, db, tenant_a)
    with db.transaction() as s:
        access, mailbox = owner_access(client, s, tenant_a, action="justification.list",
                                       purpose="user_rights")
        cards = cases_page(s, namer_for(client, s, access, mailbox), mailbox)
    assert len(cards) == 1
    case = cards[0]
    assert (case.kind_words, case.case_ref, case.status) == (
        "Security investigation", "SEC-2026-0042", "active")
    assert case.who_may_read == OPERATOR_NAME and case.recorded_by == REVIEWER_NAME
    assert not case.whole_mailbox
    assert [i.label for i in case.items] == ["message “Lunch?”"]
    assert [(a.who, a.did, a.allowed) for a in case.accesses] == [
        (OPERATOR_NAME, "read the message", True)]
    assert "phishing" not in repr(case)


def test_mailbox_cards_state_features_and_sync(client: TestClient, db: Database,
                                               tenant_a: TenantWorld) -> None:
    with db.transaction() as s:
        listing, _ = owner_access(client, s, tenant_a, action="mail.mailbox.list",
                                  purpose="user_facing")
        cards = own_mailboxes(s, runtime_of(client.app).crypto, tenant_a.tenant.id,
                              tenant_a.end_user.principal.id, listing)
        other = own_mailboxes(s, runtime_of(client.app).crypto, tenant_a.tenant.id,
                              tenant_a.other_user.principal.id, listing)
    assert [c.id for c in cards] == [tenant_a.mailbox.id] and other == []
    card = cards[0]
    assert card.state_words == "Connected" and card.can_reconnect and not card.needs_reconnect
    assert [f.feature for f in card.granted] == ["read", "send"]
    assert [f.feature for f in card.missing] == ["organise", "labels"]
    assert card.missing[0].title == "Organise your email"

    with db.transaction() as s:
        s.execute(update(Mailbox).where(Mailbox.id == tenant_a.mailbox.id).values(
            state=MailboxState.reauth_required.value, state_reason="invalid_grant"))
    with db.transaction() as s:
        mailbox = s.get(Mailbox, tenant_a.mailbox.id)
        assert mailbox is not None
        access, _ = owner_access(client, s, tenant_a)
        card = mailbox_card(s, runtime_of(client.app).crypto, mailbox, access)
        progress = sync_progress(s, mailbox)
    assert card.needs_reconnect and card.state_words == "Needs you to reconnect"
    assert card.state_reason is not None and card.state_reason.startswith(
        "Google no longer accepts the CRM's access")
    assert progress.phase == "stopped" and progress.phase_words == "Stopped"
    assert progress.messages_stored == 0


def test_data_choices_follow_the_state(client: TestClient, db: Database,
                                       tenant_a: TenantWorld) -> None:
    with db.transaction() as s:
        mailbox = s.get(Mailbox, tenant_a.mailbox.id)
        assert mailbox is not None
        active = data_choices(mailbox)
        mailbox.state = MailboxState.restricted.value
        restricted = data_choices(mailbox)
        mailbox.state = MailboxState.disconnected.value
        disconnected = data_choices(mailbox)
        s.rollback()
    assert active.can_restrict and not active.can_lift and active.can_delete
    assert restricted.can_lift and not restricted.can_restrict and restricted.can_export
    assert not disconnected.can_restrict and not disconnected.can_disconnect
    assert disconnected.can_delete
    assert all(c.will_happen for c in CONFIRMATIONS.values())
    assert CONFIRMATIONS[Step.delete].destructive


def test_an_approval_is_offered_within_the_maximum() -> None:
    assert durations(600, 4)[0] == (240, "4 hours")
    assert [m for m, _ in durations(20, 0.5)] == [20, 15, 30]


def test_durations_in_words() -> None:
    assert duration_words(60) == "1 hour"
    assert duration_words(90) == "1 hour 30 minutes"
    assert duration_words(2 * 24 * 60 + 1) == "2 days 1 minute"


def test_the_buttons_shown_follow_the_policys_states() -> None:
    """The pages offer a button only in the states the policy allows its action in."""
    found = [json.loads(p.read_text()) for p in sorted(POLICIES.rglob("data.json"))]
    actions = next(d["gateway"]["tables"]["actions"] for d in found
                   if "actions" in d.get("gateway", {}).get("tables", {}))

    def states(action: str) -> set[str]:
        return {state for state, allowed in actions[action]["states"].items() if allowed}

    assert states("consent.request.decide") == DECIDABLE_STATES
    assert states("oauth.connect") == RECONNECTABLE
    for state in MailboxState:
        with_state = Mailbox(state=state.value)
        if data_choices(with_state).can_restrict or data_choices(with_state).can_lift:
            assert state.value in states("data.restrict")
        if data_choices(with_state).can_disconnect or data_choices(with_state).can_delete:
            assert state.value in states("oauth.disconnect")
        if data_choices(with_state).can_export:
            assert state.value in states("data.export")


def test_templates_post_with_csrf_and_carry_no_inline_script_or_style() -> None:
    """The CSP refuses inline script and style; every form that posts carries the token."""
    templates = Path(__file__).resolve().parents[2] / "gateway" / "pages" / "templates" / "privacy"
    for template in sorted(templates.glob("*.html")):
        text = template.read_text(encoding="utf-8")
        assert "<script" not in text and "style=" not in text, template.name
        assert not re.search(r"\son[a-z]+=", text), template.name  # no inline handlers
        forms = text.split("<form")[1:]
        for form in forms:
            body = form.split("</form>")[0]
            assert 'method="post"' in body.split(">")[0], template.name
            assert "{{ csrf_input() }}" in body, template.name
