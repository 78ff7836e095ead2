"""The privacy center's pages (GET). Each is a guarded, policy-decided, logged access with the
policy action and purpose of the API route that serves the same facts (docs/pages.md, "Privacy
center"); the forms they show post to gateway/pages/privacy/actions.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from gateway.accounts.deps import SessionDep
from gateway.crypto import CryptoService
from gateway.guard.routing import AccessDep
from gateway.kit.errors import NotFound
from gateway.mail.read import export
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import own_mailboxes as own_mailboxes_resource
from gateway.pages.kit import PageRouter, render
from gateway.pages.privacy.access_log import who_read_page
from gateway.pages.privacy.cases import cases_page
from gateway.pages.privacy.human_access import human_access_page
from gateway.pages.privacy.items import ItemNamer
from gateway.pages.privacy.mailboxes import mailbox_card, own_mailboxes, sync_progress
from gateway.pages.privacy.resolvers import own_mailbox, own_mailbox_log
from gateway.pages.privacy.your_data import CONFIRMATIONS, Step, data_choices, step_available
from gateway.policy.enforcement import Access
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of
from gateway.settings import Settings

router = PageRouter(tags=["privacy center"])

BASE = "/me/mailboxes/{mailbox_id}"

# What the pages say after an action redirected back to them (`?done=`); anything else: nothing.
NOTICES: dict[str, str] = {
    "approved": "You approved the request. The operator can now open what it names, until "
                "the grant expires or you revoke it.",
    "refused": "You refused the request. The operator cannot open what it names.",
    "revoked": "You revoked the grant. The operator can no longer open what it named.",
    "sync_requested": "A sync was requested; it starts within a minute or two.",
    "restricted": "Processing is restricted: nothing is synced or read until you lift it.",
    "lifted": "The restriction is lifted.",
    "disconnected": "The mailbox is disconnected: the CRM's access was revoked at Google.",
    "deleted": "The mailbox's data is deleted and its encryption key destroyed.",
}


def mailbox_of(request: Request) -> Mailbox:
    mailbox: Mailbox = request.state.mailbox
    return mailbox


def crypto_of(request: Request) -> CryptoService:
    crypto: CryptoService = runtime_of(request).crypto
    return crypto


def namer(request: Request, session: Session, access: Access) -> ItemNamer:
    store = runtime_of(request).service(MessageStore)
    return ItemNamer(session, store, access, mailbox_of(request))


def mailbox_context(request: Request, session: Session, access: Access,
                    tab: str) -> dict[str, Any]:
    """What every mailbox page shows above its own part: the mailbox, its tabs, a notice."""
    mailbox = mailbox_of(request)
    return {"card": mailbox_card(session, crypto_of(request), mailbox, access), "tab": tab,
            "base": f"/me/mailboxes/{mailbox.id}",
            "notice": NOTICES.get(request.query_params.get("done", ""))}


def home(request: Request, session: SessionDep, access: AccessDep) -> Response:
    actor = access.request.actor
    mailboxes = own_mailboxes(session, crypto_of(request), uuid.UUID(actor.tenant),
                              uuid.UUID(actor.id), access)
    return render(request, "privacy/home.html", {"mailboxes": mailboxes})


def mailbox_page(mailbox_id: str, request: Request, session: SessionDep,
                 access: AccessDep) -> Response:
    return render(request, "privacy/mailbox.html", {
        **mailbox_context(request, session, access, "overview"),
        "sync": sync_progress(session, mailbox_of(request))})


def access_page(mailbox_id: str, request: Request, session: SessionDep,
                access: AccessDep) -> Response:
    settings: Settings = runtime_of(request).settings
    page = human_access_page(session, crypto_of(request), namer(request, session, access),
                             mailbox_of(request), max_hours=settings.consent_grant_max_hours)
    return render(request, "privacy/access.html", {
        **mailbox_context(request, session, access, "access"), "page": page})


def who_read(mailbox_id: str, request: Request, session: SessionDep, access: AccessDep,
             cursor: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    page = who_read_page(session, namer(request, session, access), mailbox_of(request),
                         cursor=cursor)
    return render(request, "privacy/who_read.html", {
        **mailbox_context(request, session, access, "who_read"), "page": page})


def cases(mailbox_id: str, request: Request, session: SessionDep,
          access: AccessDep) -> Response:
    cards = cases_page(session, namer(request, session, access), mailbox_of(request))
    return render(request, "privacy/cases.html", {
        **mailbox_context(request, session, access, "cases"), "cases": cards})


def your_data(mailbox_id: str, request: Request, session: SessionDep,
              access: AccessDep) -> Response:
    return render(request, "privacy/data.html", {
        **mailbox_context(request, session, access, "data"),
        "choices": data_choices(mailbox_of(request))})


def confirm(mailbox_id: str, step: str, request: Request, session: SessionDep,
            access: AccessDep) -> Response:
    """The confirmation of a step: what will happen, what will not, and the one button that
    does it (a form posting to the step's guarded action)."""
    try:
        chosen = Step(step)
    except ValueError:
        raise NotFound("no such step", code="step_not_found") from None
    return render(request, "privacy/confirm.html", {
        **mailbox_context(request, session, access, "data"),
        "confirmation": CONFIRMATIONS[chosen],
        "available": step_available(mailbox_of(request), chosen)})


router.add("GET", "/me", home, action=Action.mailbox_list, resource=own_mailboxes_resource,
           purpose="user_facing")
router.add("GET", BASE, mailbox_page, action=Action.mailbox_read, resource=own_mailbox(),
           purpose="user_facing")
router.add("GET", f"{BASE}/access", access_page, action=Action.consent_list,
           resource=own_mailbox("consent"), purpose="consent_management")
router.add("GET", f"{BASE}/who-read", who_read, action=Action.audit_query,
           resource=own_mailbox_log, purpose="user_rights")
router.add("GET", f"{BASE}/cases", cases, action=Action.justification_list,
           resource=own_mailbox("justification"), purpose="user_rights")
router.add("GET", f"{BASE}/data", your_data, action=Action.mailbox_read,
           resource=own_mailbox(), purpose="user_facing")
router.add("GET", f"{BASE}/data/confirm/{{step}}", confirm, action=Action.mailbox_read,
           resource=own_mailbox(), purpose="user_facing")
router.add("GET", f"{BASE}/data/export", export.export_mailbox, action=Action.data_export,
           resource=own_mailbox(), purpose="user_rights", response_class=StreamingResponse)
