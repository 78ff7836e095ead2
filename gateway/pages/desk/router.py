"""The operator's access desk (/desk): ask for access to a message or thread, follow the
requests, open what a grant covers.

Each page is one guarded decision through `PageRouter`, with the action and service the API
uses for the same thing (docs/pages.md#the-access-desk):
- GET  /desk                                   consent.list (consent_management), own requests
- GET  /desk/requests/new?mailbox_id=...       consent.list (consent_management), that mailbox
- POST /desk/mailboxes/{id}/requests           consent.request.create (consent_management)
- GET  /desk/mailboxes/{id}/grants/{grant}     consent.list (consent_management), own grant
- GET  /desk/mailboxes/{id}/messages/{m}       mail.message.read_content (support)
- GET  /desk/mailboxes/{id}/messages/{m}/metadata  mail.message.read_metadata (support)
- GET  /desk/mailboxes/{id}/threads/{t}        mail.thread.read_content (support)
- GET  /desk/mailboxes/{id}/threads/{t}/metadata   mail.thread.read_metadata (support)
A message or thread is rendered from the decision as the API renders it: content only under a
grant the policy found valid, the metadata view redacted otherwise."""

from __future__ import annotations

import uuid

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller, SessionDep
from gateway.consent import router as consent_api
from gateway.consent import service as consent_service
from gateway.consent.models import ConsentGrant
from gateway.crypto import CryptoService
from gateway.guard.routing import AccessDep, tenant_resource
from gateway.kit.errors import ValidationFailed
from gateway.mail.models import Message
from gateway.mail.read.rendering import render as render_message
from gateway.mail.read.resolvers import (
    MessageColumns,
    ThreadMessagePage,
    message_resource,
    thread_resource,
)
from gateway.mail.read.views import View
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import mailbox_resource
from gateway.pages.desk import views
from gateway.pages.forms import FormDep
from gateway.pages.kit import NAV, PageRouter, render
from gateway.pages.resolvers import mailbox_in_query
from gateway.policy.enforcement import Access, Resolved, Resource
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of

router = PageRouter(prefix="/desk", tags=["desk"])
NAV["desk"] = [("Requests", "/desk")]
MANAGE = "consent_management"
SUPPORT = "support"


def _caller(request: Request) -> Caller:
    caller: Caller = request.state.caller
    return caller


def _crypto(request: Request) -> CryptoService:
    crypto: CryptoService = runtime_of(request).crypto
    return crypto


def own_grant(session: Session, caller: Caller, request: Request) -> Resolved | Resource:
    """The mailbox in the path and one of its grants naming this operator (or their group);
    any other grant is `grant_not_found`, answered before the decision and logged."""
    resolved = mailbox_resource("consent_grant")(session, caller, request)
    mailbox: Mailbox = request.state.mailbox
    request.state.grant = views.operator_grant(session, mailbox,
                                               str(request.path_params["grant_id"]),
                                               caller.principal_id, caller.groups)
    return resolved


def home(request: Request, session: SessionDep, access: AccessDep) -> Response:
    caller = _caller(request)
    only = access.decision.obligations.get("filter_operator")
    operator = uuid.UUID(str(only)) if only else caller.principal_id
    seen = views.overview(session, _crypto(request), caller.tenant_id, operator, caller.groups)
    return render(request, "desk/home.html", {
        "overview": seen, "statuses": views.STATUSES,
        "created": request.query_params.get("created"),
        "ask": {name: request.query_params.get(name, "")
                for name in ("mailbox_id", "message_ids", "thread_ids")}})


def new_request(request: Request, access: AccessDep) -> Response:
    mailbox: Mailbox = request.state.mailbox
    form = views.RequestForm.of(request.query_params)
    return render(request, "desk/new_request.html", {"mailbox": mailbox, "form": form})


def create_request(mailbox_id: str, request: Request, session: SessionDep, access: AccessDep,
                   data: FormDep) -> Response:
    mailbox: Mailbox = request.state.mailbox
    form = views.RequestForm.of(data)
    try:
        created = consent_api.create_request(mailbox_id, form.body(), request, session, access)
    except ValidationFailed as exc:  # refused before anything was written
        return render(request, "desk/new_request.html",
                      {"mailbox": mailbox, "form": form.with_errors(exc)}, status_code=422)
    return RedirectResponse(f"/desk?created={created.id}#request-{created.id}", status_code=303)


def grant_page(mailbox_id: str, grant_id: str, request: Request, session: SessionDep,
               access: AccessDep) -> Response:
    grant: ConsentGrant = request.state.grant
    status = consent_service.grant_status(grant)
    return render(request, "desk/grant.html", {
        "mailbox_id": mailbox_id, "grant": grant, "status": status,
        "items": views.coverage(session, grant)})


def _store(request: Request) -> MessageStore:
    store: MessageStore = runtime_of(request).service(MessageStore)
    return store


def _message_page(request: Request, session: Session, access: Access, view: View) -> Response:
    message: Message = request.state.message
    shown = render_message(_store(request), session, access, message, view)
    return render(request, "desk/message.html", {
        "mailbox_id": str(request.state.mailbox.id), "message": shown,
        "rows": views.message_rows(shown), "view": view.value})


def read_message(mailbox_id: str, message_id: str, request: Request, session: SessionDep,
                 access: AccessDep) -> Response:
    return _message_page(request, session, access, View.content)


def read_message_metadata(mailbox_id: str, message_id: str, request: Request,
                          session: SessionDep, access: AccessDep) -> Response:
    return _message_page(request, session, access, View.metadata)


def _thread_page(request: Request, session: Session, access: Access, view: View) -> Response:
    page: ThreadMessagePage = request.state.thread_page
    shown = [render_message(_store(request), session, access, m, view) for m in page.messages]
    return render(request, "desk/thread.html", {
        "mailbox_id": str(request.state.mailbox.id), "thread_id": page.thread_id,
        "messages": [(m, views.message_rows(m)) for m in shown], "view": view.value,
        "next_cursor": page.next_cursor})


def read_thread(mailbox_id: str, thread_id: str, request: Request, session: SessionDep,
                access: AccessDep) -> Response:
    return _thread_page(request, session, access, View.content)


def read_thread_metadata(mailbox_id: str, thread_id: str, request: Request,
                         session: SessionDep, access: AccessDep) -> Response:
    return _thread_page(request, session, access, View.metadata)


router.add("GET", "", home, action=Action.consent_list, resource=tenant_resource("consent"),
           purpose=MANAGE)
router.add("GET", "/requests/new", new_request, action=Action.consent_list,
           resource=mailbox_in_query("consent"), purpose=MANAGE)
router.add("POST", "/mailboxes/{mailbox_id}/requests", create_request,
           action=Action.consent_request_create, resource=mailbox_resource("consent_request"),
           purpose=MANAGE)
router.add("GET", "/mailboxes/{mailbox_id}/grants/{grant_id}", grant_page,
           action=Action.consent_list, resource=own_grant, purpose=MANAGE)
router.add("GET", "/mailboxes/{mailbox_id}/messages/{message_id}", read_message,
           action=Action.message_read_content,
           resource=message_resource(columns=MessageColumns.content), purpose=SUPPORT)
router.add("GET", "/mailboxes/{mailbox_id}/messages/{message_id}/metadata",
           read_message_metadata, action=Action.message_read_metadata,
           resource=message_resource(columns=MessageColumns.metadata), purpose=SUPPORT)
router.add("GET", "/mailboxes/{mailbox_id}/threads/{thread_id}", read_thread,
           action=Action.thread_read_content, resource=thread_resource(), purpose=SUPPORT)
router.add("GET", "/mailboxes/{mailbox_id}/threads/{thread_id}/metadata",
           read_thread_metadata, action=Action.thread_read_metadata,
           resource=thread_resource(), purpose=SUPPORT)
