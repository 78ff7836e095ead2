"""Sending mail: `POST /v1/mailboxes/{mailbox_id}/messages/send`.

The gateway builds the RFC 5322 message (gateway.mail.write.compose), Gmail sends it
(`messages.send` with `raw`), then the sent copy is fetched (`format=raw`) and put into the
encrypted store when the mailbox granted reading. An `Idempotency-Key` makes a retried send
safe (gateway.mail.write.idempotency): Gmail is called once per key, and when its answer was lost a
retry first asks Gmail for the message by its Message-ID (fixed per key) before sending again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from gateway.accounts.deps import SessionDep
from gateway.gmail import GmailError
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.kit.errors import Conflict, GatewayError, NotFound, ValidationFailed
from gateway.mail.write.compose import Composed, Limits, ReplyContext, build_message, gmail_raw
from gateway.mail.write.idempotency import MAX_KEY_CHARS, IdempotencyKeys, message_id_for
from gateway.mail.write.schemas import ComposeIn, SendIn, SentOut
from gateway.mail.write.service import (
    Gmail,
    has_read_scope,
    reflect_message,
    settings_of,
    write_mailbox,
)
from gateway.mailboxes.models import Mailbox
from gateway.policy.enforcement import Access
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of

log = logging.getLogger(__name__)

router = GuardedRouter(prefix="/v1/mailboxes/{mailbox_id}", tags=["send"])

IdempotencyKeyHeader = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=MAX_KEY_CHARS,
    # Documented, checked by `check_key` (its own code, invalid_idempotency_key).
    json_schema_extra={"pattern": "^[ -~]+$", "minLength": 1},
    description="Any unique string per intended send (a UUID): a retry with the same key and "
                "body gets the first answer and sends nothing again")]


def idempotency_keys(request: Request) -> IdempotencyKeys:
    return runtime_of(request).service(IdempotencyKeys)


def limits_of(request: Request) -> Limits:
    settings = settings_of(request)
    return Limits(max_message_bytes=settings.mail_max_message_bytes,
                  max_attachment_bytes=settings.mail_max_attachment_bytes)


def msgid_domain(request: Request) -> str:
    return urlsplit(settings_of(request).public_base_url).hostname or "gmail-gateway.invalid"


def reply_context(gmail: Gmail, mailbox: Mailbox, message_id: str) -> ReplyContext:
    """The headers a reply needs, read from Gmail's metadata of the replied message (never its
    content). Needs a reading permission: a send-only mailbox cannot thread replies."""
    if not has_read_scope(mailbox):
        raise ValidationFailed("replying in a thread needs the mailbox's read permission "
                               "(the gateway must read the replied message's headers)",
                               code="reply_needs_read_permission")
    try:
        meta = gmail.call(lambda c: c.users.messages().get(
            userId="me", id=message_id, format="metadata",
            metadataHeaders=["Message-ID", "References"]),
            what="replied message", not_found="reply_to_message_not_found")
    except NotFound:
        raise ValidationFailed("reply_to_message_id is not a message of this mailbox",
                               code="reply_to_message_not_found") from None
    headers = {str(h.get("name", "")).lower(): str(h.get("value", ""))
               for h in (meta.get("payload") or {}).get("headers") or []}
    return ReplyContext(thread_id=str(meta.get("threadId")),
                        message_id_header=headers.get("message-id", ""),
                        references=headers.get("references", ""))


def compose_for(request: Request, gmail: Gmail, mailbox: Mailbox,
                body: ComposeIn, *, message_id: str | None = None) -> Composed:
    reply = (reply_context(gmail, mailbox, body.reply_to_message_id)
             if body.reply_to_message_id else None)
    return build_message(body, limits_of(request), msgid_domain=msgid_domain(request),
                         reply=reply, message_id=message_id)


def sent_out(request: Request, session: Session, mailbox: Mailbox, gmail: Gmail,
             sent: dict[str, Any]) -> dict[str, Any]:
    """The API's answer for a message Gmail sent; the store reflects it when it may. A failure
    to reflect never turns a sent message into an error (the next sync brings it)."""
    gmail_id = str(sent["id"])
    stored = False
    try:
        with session.begin_nested():
            stored = reflect_message(request, session, mailbox, gmail, gmail_id)
    except GatewayError as exc:
        log.warning("mail:message:sent_not_stored code=%s", exc.code)
    return SentOut(id=gmail_id, thread_id=str(sent.get("threadId")),
                   label_ids=list(sent.get("labelIds") or []),
                   stored=stored).model_dump(mode="json")


class OutcomeUncheckable(Conflict):
    """An earlier attempt under this key may have gone out and Gmail cannot be asked (a
    send-only mailbox has no reading permission): sending again could send twice."""

    code = "send_outcome_unknown"
    title = "The outcome of an earlier attempt is unknown"


def idempotent(request: Request, access: Access, operation: str, key: str | None,
               fingerprint: bytes, run: Callable[[str | None], dict[str, Any]],
               recheck: Callable[[str], dict[str, Any] | None] | None = None) -> JSONResponse:
    """Run `run` (which calls Gmail) once per Idempotency-Key; replay its answer after that.

    `run` gets the Message-ID to use (fixed per key, None without a key). When an earlier
    attempt's outcome is unknown (Gmail's answer lost, or its process died), `recheck` looks
    for that attempt's message in Gmail first and returns its answer if it went out."""
    if key is None:
        return JSONResponse(run(None))
    keys = idempotency_keys(request)
    actor = access.request.actor
    mailbox: Mailbox = request.state.mailbox
    claim = keys.claim(tenant=mailbox.tenant_id, principal=uuid.UUID(actor.id),
                       mailbox=mailbox.id, operation=operation, key=key, body=fingerprint)
    if claim.record_id is None:
        replay = dict(claim.replay or {}, idempotent_replay=True)
        return JSONResponse(replay, status_code=claim.replay_status or 200,
                            headers={"Idempotent-Replayed": "true"})
    message_id = message_id_for(claim.record_id, msgid_domain(request))
    try:
        found = recheck(message_id) if claim.recheck and recheck is not None else None
        if found is not None:
            log.info("mail:send:recheck_found mailbox=%s", mailbox.id)
            keys.complete(claim.record_id, 200, found)
            return JSONResponse(dict(found, idempotent_replay=True),
                                headers={"Idempotent-Replayed": "true"})
        answer = run(message_id)
    except GatewayError as exc:
        if isinstance(exc, OutcomeUncheckable):
            keys.mark_unknown(claim.record_id)  # still unknown: every retry is refused alike
        elif isinstance(exc, GmailError) and (exc.upstream_status == 0
                                              or exc.upstream_status >= 500):
            log.warning("mail:send:outcome_unknown upstream_status=%s", exc.upstream_status)
            keys.mark_unknown(claim.record_id)
        else:
            keys.release(claim.record_id)  # refused: nothing was sent
        raise
    except BaseException:
        keys.mark_unknown(claim.record_id)  # we cannot tell whether Gmail acted
        raise
    keys.complete(claim.record_id, 200, answer)
    return JSONResponse(answer)


def find_sent(request: Request, session: Session, mailbox: Mailbox,
              message_id: str) -> dict[str, Any] | None:
    """The answer for the message with our `message_id` if Gmail has it (any label, trash and
    spam included), else None. Needs a reading permission: for a send-only mailbox Gmail
    cannot be asked, so the retry is refused (409 `send_outcome_unknown`) rather than risk a
    second copy; the caller decides, and sends with a new key if the recipient has nothing."""
    if not has_read_scope(mailbox):
        raise OutcomeUncheckable(
            "an earlier attempt with this Idempotency-Key may have been sent, and this "
            "mailbox's permissions (send only) do not let the gateway check: it was not sent "
            "again. If it did not arrive, send it with a new Idempotency-Key")
    gmail = Gmail(request, session, mailbox)
    query = f"rfc822msgid:{message_id.strip('<>')}"
    listed = gmail.call(lambda c: c.users.messages().list(
        userId="me", q=query, includeSpamTrash=True, maxResults=1),
        what="message", not_found="message_not_found")
    hits = listed.get("messages") or []
    if not hits:
        return None
    gmail_id = str(hits[0]["id"])
    sent = gmail.call(lambda c: c.users.messages().get(userId="me", id=gmail_id,
                                                       format="minimal"),
                      what="message", not_found="message_not_found")
    return sent_out(request, session, mailbox, gmail, sent)


def send_message(mailbox_id: str, body: SendIn, request: Request, session: SessionDep,
                 access: AccessDep, idempotency_key: IdempotencyKeyHeader = None
                 ) -> JSONResponse:
    mailbox: Mailbox = request.state.mailbox

    def run(message_id: str | None) -> dict[str, Any]:
        gmail = Gmail(request, session, mailbox)
        composed = compose_for(request, gmail, mailbox, body, message_id=message_id)
        message: dict[str, Any] = {"raw": gmail_raw(composed.raw)}
        if composed.thread_id:
            message["threadId"] = composed.thread_id
        sent = gmail.call(lambda c: c.users.messages().send(userId="me", body=message),
                          what="message", not_found="message_not_found")
        log.info("mail:message:sent mailbox=%s", mailbox.id)
        return sent_out(request, session, mailbox, gmail, sent)

    return idempotent(request, access, Action.message_send.value, idempotency_key,
                      body.model_dump_json().encode(), run,
                      recheck=lambda mid: find_sent(request, session, mailbox, mid))


router.add("POST", "/messages/send", send_message, action=Action.message_send,
           resource=write_mailbox("message"), response_model=SentOut,
           summary="Send a message built from JSON (RFC 5322 by the gateway)",
           responses={409: {"description": "a request with this Idempotency-Key is in flight"},
                      413: {"description": "message or attachment over the size limit"},
                      422: {"description": "invalid address, header, attachment or a reused "
                                           "Idempotency-Key"}})
