"""Drafts, kept in Gmail (not in the store): create, list, get, update, delete, send.

Reading a draft is `mail.draft.read`; changing one is `mail.draft.write`; sending one is
`mail.draft.write` on the draft **and** `mail.message.send` on the mailbox — a second decision
asked of the enforcement point and logged, so a policy that forbids sending cannot be
sidestepped through drafts. Gmail's drafts need `gmail.compose` or `gmail.modify` (the gateway
asks for `gmail.modify`: feature `organise`).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from typing import Annotated, Any

from annotated_types import Ge, Le
from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse

from gateway.accounts.deps import SessionDep
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.kit.strict import DIGITS
from gateway.mail.write.schemas import ComposeIn, DraftContent, DraftList, DraftOut, SentOut
from gateway.mail.write.send import IdempotencyKeyHeader, compose_for, idempotent, sent_out
from gateway.mail.write.service import Gmail, write_mailbox, write_object
from gateway.mailboxes.models import Mailbox
from gateway.mime.parse import parse_message
from gateway.policy.enforcement import Enforcer
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of

log = logging.getLogger(__name__)

router = GuardedRouter(prefix="/v1/mailboxes/{mailbox_id}/drafts", tags=["drafts"])
MAX_PAGE = 100
_DRAFT = {"what": "draft", "not_found": "draft_not_found"}
_one_draft = write_object("draft", "draft_id", what="draft", code="draft_not_found")


def _draft_out(resource: dict[str, Any]) -> DraftOut:
    message = resource.get("message") or {}
    return DraftOut(id=str(resource["id"]), message_id=str(message.get("id")),
                    thread_id=str(message.get("threadId")))


def _message_body(request: Request, session: SessionDep, mailbox: Mailbox,
                  body: ComposeIn) -> tuple[Gmail, dict[str, Any]]:
    gmail = Gmail(request, session, mailbox)
    composed = compose_for(request, gmail, mailbox, body)
    message: dict[str, Any] = {"raw": base64.urlsafe_b64encode(composed.raw).decode()}
    if composed.thread_id:
        message["threadId"] = composed.thread_id
    return gmail, message


def create_draft(mailbox_id: str, body: ComposeIn, request: Request, session: SessionDep,
                 access: AccessDep) -> JSONResponse:
    mailbox: Mailbox = request.state.mailbox
    gmail, message = _message_body(request, session, mailbox, body)
    created = gmail.call(lambda c: c.users.drafts().create(userId="me",
                                                           body={"message": message}), **_DRAFT)
    return JSONResponse(_draft_out(created).model_dump(), status_code=201)


def list_drafts(mailbox_id: str, request: Request, session: SessionDep, access: AccessDep,
                limit: Annotated[int, Ge(1), Le(MAX_PAGE), DIGITS, Query()] = 50,
                page_token: Annotated[str | None, Query(max_length=200,
                                                        pattern=r"^[0-9A-Za-z_\-=.]+$")] = None,
                ) -> DraftList:
    mailbox: Mailbox = request.state.mailbox
    listed = Gmail(request, session, mailbox).call(
        lambda c: c.users.drafts().list(userId="me", maxResults=limit, pageToken=page_token),
        what="draft page", not_found="invalid_page_token")
    return DraftList(items=[_draft_out(d) for d in listed.get("drafts") or []],
                     next_page_token=listed.get("nextPageToken"))


def get_draft(mailbox_id: str, draft_id: str, request: Request, session: SessionDep,
              access: AccessDep) -> DraftContent:
    mailbox: Mailbox = request.state.mailbox
    draft = Gmail(request, session, mailbox).call(
        lambda c: c.users.drafts().get(userId="me", id=draft_id, format="raw"), **_DRAFT)
    message = draft.get("message") or {}
    raw = str(message.get("raw", ""))
    parsed = parse_message(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return DraftContent(
        id=str(draft["id"]), message_id=str(message.get("id")),
        thread_id=str(message.get("threadId")), subject=parsed.subject, to=parsed.to,
        cc=parsed.cc, bcc=parsed.bcc, text=parsed.text, html=parsed.html,
        attachments=[{"part_id": a.part_id, "filename": a.filename, "mime_type": a.mime_type,
                      "size": a.size} for a in parsed.attachments])


def update_draft(mailbox_id: str, draft_id: str, body: ComposeIn, request: Request,
                 session: SessionDep, access: AccessDep) -> DraftOut:
    mailbox: Mailbox = request.state.mailbox
    gmail, message = _message_body(request, session, mailbox, body)
    updated = gmail.call(lambda c: c.users.drafts().update(
        userId="me", id=draft_id, body={"id": draft_id, "message": message}), **_DRAFT)
    return _draft_out(updated)


def delete_draft(mailbox_id: str, draft_id: str, request: Request, session: SessionDep,
                 access: AccessDep) -> Response:
    mailbox: Mailbox = request.state.mailbox
    Gmail(request, session, mailbox).call(
        lambda c: c.users.drafts().delete(userId="me", id=draft_id), **_DRAFT)
    return Response(status_code=204)


def send_draft(mailbox_id: str, draft_id: str, request: Request, session: SessionDep,
               access: AccessDep, idempotency_key: IdempotencyKeyHeader = None) -> JSONResponse:
    mailbox: Mailbox = request.state.mailbox
    enforcer: Enforcer = runtime_of(request).enforcer
    enforcer.authorize(session, dataclasses.replace(access.request,
                                                    action=Action.message_send.value))

    def run(_message_id: str | None) -> dict[str, Any]:
        # A draft keeps the Message-ID it was built with. After a lost answer the retry sends
        # the draft again: if the first went out, Gmail no longer has the draft (404).
        gmail = Gmail(request, session, mailbox)
        sent = gmail.call(lambda c: c.users.drafts().send(userId="me", body={"id": draft_id}),
                          **_DRAFT)
        log.info("mail:draft:sent mailbox=%s", mailbox.id)
        return sent_out(request, session, mailbox, gmail, sent)

    return idempotent(request, access, "mail.draft.send", idempotency_key,
                      draft_id.encode(), run)


router.add("POST", "", create_draft, action=Action.draft_write,
           resource=write_mailbox("draft"), response_model=DraftOut, status_code=201,
           summary="Create a draft (the gateway builds the message)")
router.add("GET", "", list_drafts, action=Action.draft_read, resource=write_mailbox("draft"),
           response_model=DraftList, summary="List drafts (ids; Gmail's order, newest first)")
router.add("GET", "/{draft_id}", get_draft, action=Action.draft_read, resource=_one_draft,
           response_model=DraftContent, summary="A draft's content")
router.add("PUT", "/{draft_id}", update_draft, action=Action.draft_write, resource=_one_draft,
           response_model=DraftOut, summary="Replace a draft's message")
router.add("DELETE", "/{draft_id}", delete_draft, action=Action.draft_write,
           resource=_one_draft, status_code=204, summary="Delete a draft")
router.add("POST", "/{draft_id}/send", send_draft, action=Action.draft_write,
           resource=_one_draft, response_model=SentOut,
           summary="Send a draft (also decided as mail.message.send)")
