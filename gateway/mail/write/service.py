"""What the write routes (send, drafts, modify, labels) share: resolvers for the ids in their
paths, the mailbox's Gmail client, Gmail's errors as the API's problems, and putting what Gmail
now holds into the store.

Writes go to Gmail first; the store follows only once Gmail accepted the change (or the next
history sync brings it). A Gmail id in a path is opaque: a malformed one answers exactly like an
unknown one (404), and an id of another mailbox is unknown to this mailbox's Gmail (404).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from fastapi import Request
from googleapiclient.http import HttpRequest
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller
from gateway.gmail import GmailClient, GmailError, GmailNotFound, GmailRejected
from gateway.gmail.client import build_client
from gateway.guard.routing import ResourceResolver
from gateway.kit.errors import Conflict, NotFound, ValidationFailed
from gateway.kit.ids import GMAIL_ID, LABEL_ID
from gateway.mail.models import Message
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.gmail_access import gmail_for
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import load_visible_mailbox
from gateway.mailboxes.tokens import credentials_for
from gateway.policy.enforcement import Resolved
from gateway.policy.resources import mailbox_bound
from gateway.policy.vocabulary import SCOPE_MODIFY, SCOPE_READONLY
from gateway.runtime import runtime_of
from gateway.settings import Settings

READ_SCOPES = frozenset({SCOPE_READONLY, SCOPE_MODIFY})


def path_id(request: Request, name: str, *, shape: re.Pattern[str], what: str, code: str) -> str:
    value = str(request.path_params[name])
    if not shape.fullmatch(value):
        raise NotFound(f"no such {what}", code=code)
    return value


def _resource(mailbox: Mailbox, resource_type: str, ids: tuple[str, ...] = (),
              thread_id: str | None = None) -> Resolved:
    return Resolved(mailbox_bound(mailbox, resource_type, ids=ids, thread_id=thread_id))


def write_mailbox(resource_type: str) -> ResourceResolver:
    """The mailbox in the path (another tenant's → 404); the write names no object yet."""

    def resolve(session: Session, caller: Caller, request: Request) -> Resolved:
        mailbox = load_visible_mailbox(session, caller, request.path_params["mailbox_id"])
        request.state.mailbox = mailbox
        return _resource(mailbox, resource_type)

    return resolve


def write_object(resource_type: str, param: str, *, what: str, code: str) -> ResourceResolver:
    """A Gmail object (message, draft, label) of the mailbox in the path.

    A message must be one the store holds for this mailbox, checked before the decision: an id
    of another mailbox (or of none) is a 404, logged as a refused access, never decided on
    (so no `allow` names a foreign message). A message not synced yet is a 404 too, until the
    next sync (`POST /v1/mailboxes/{id}/sync` asks for one). Drafts and labels are Gmail's to
    find: their ids only mean something within one Gmail account."""

    def resolve(session: Session, caller: Caller, request: Request) -> Resolved:
        mailbox = load_visible_mailbox(session, caller, request.path_params["mailbox_id"])
        shape = LABEL_ID if resource_type == "label" else GMAIL_ID
        object_id = path_id(request, param, shape=shape, what=what, code=code)
        request.state.mailbox = mailbox
        thread_id = None
        if resource_type == "message":
            message = stored_message(session, mailbox, object_id)
            if message is None:
                raise NotFound(f"no such {what}", code=code)
            request.state.message = message
            thread_id = message.thread_id
        return _resource(mailbox, resource_type, (object_id,), thread_id)

    return resolve


def stored_message(session: Session, mailbox: Mailbox, gmail_id: str) -> Message | None:
    return session.scalar(select(Message).where(Message.mailbox_id == mailbox.id,
                                                Message.gmail_id == gmail_id))


def settings_of(request: Request) -> Settings:
    settings: Settings = runtime_of(request).settings
    return settings


class Gmail:
    """The mailbox's Gmail for one request. A 401 from Gmail (the access token was revoked or
    expired early) refreshes the token through `credentials_for` and retries once: a dead grant
    then turns into 403 `mailbox_reauth_required` (the mailbox flips to reauth_required) instead
    of a 5xx. google-auth's own refresh failing mid-call is mapped by `GmailClient` itself."""

    def __init__(self, request: Request, session: Session, mailbox: Mailbox) -> None:
        self.runtime = runtime_of(request)
        self.session = session
        self.mailbox = mailbox
        self.client = gmail_for(session, mailbox, crypto=self.runtime.crypto,
                                settings=self.runtime.settings, database=self.runtime.database)

    def call(self, build: Callable[[GmailClient], HttpRequest], *, what: str, not_found: str,
             conflict: str = "conflict") -> Any:
        try:
            return call(self.client, build(self.client), what=what, not_found=not_found,
                        conflict=conflict)
        except GmailError as exc:
            if exc.upstream_status != 401:
                raise
        settings: Settings = self.runtime.settings
        credentials = credentials_for(self.session, self.mailbox, crypto=self.runtime.crypto,
                                      settings=settings, database=self.runtime.database,
                                      force_refresh=True)
        self.client = build_client(credentials, settings)
        return call(self.client, build(self.client), what=what, not_found=not_found,
                    conflict=conflict)


# What Gmail answers (400 invalidArgument) for an id not of its format, e.g. `True` for a message.
INVALID_ID = "Invalid id value"


def call(client: GmailClient, request: HttpRequest, *, what: str, not_found: str,
         conflict: str = "conflict") -> Any:
    """Execute one Gmail request; Gmail's answers about the caller's input become 4xx problems
    of the API (unknown id → 404, invalid → 422, name taken → 409); the rest stay Gmail's
    problems (502/503, retryable ones with Retry-After)."""
    try:
        return client.execute(request)
    except GmailNotFound:
        raise NotFound(f"no such {what}", code=not_found) from None
    except GmailRejected as exc:
        if exc.detail.endswith(": " + INVALID_ID):  # an id no Gmail object can have
            raise NotFound(f"no such {what}", code=not_found) from None
        raise ValidationFailed(f"Gmail refused the {what}: {exc.detail}",
                               code="gmail_rejected") from None
    except GmailError as exc:
        if exc.upstream_status == 409:
            raise Conflict(f"Gmail refused the {what}: it conflicts with an existing one",
                           code=conflict) from None
        raise


def has_read_scope(mailbox: Mailbox) -> bool:
    return bool(READ_SCOPES & set(mailbox.granted_scopes or ()))


def reflect_message(request: Request, session: Session, mailbox: Mailbox, gmail: Gmail,
                    gmail_id: str) -> bool:
    """Put the message Gmail now holds into the store (full raw bytes), if the mailbox granted
    reading; otherwise there is nothing the gateway may keep and sync would not either."""
    if not has_read_scope(mailbox):
        return False
    resource = gmail.call(lambda c: c.users.messages().get(userId="me", id=gmail_id,
                                                           format="raw"),
                          what="message", not_found="message_not_found")
    store: MessageStore = runtime_of(request).service(MessageStore)
    raw = _b64url(str(resource.get("raw", "")))
    store.put(session, mailbox, gmail_id=gmail_id, thread_id=str(resource.get("threadId")),
              raw=raw, label_ids=list(resource.get("labelIds") or []),
              history_id=int(resource.get("historyId") or 0),
              size_estimate=int(resource.get("sizeEstimate") or len(raw)))
    return True


def update_stored_labels(session: Session, mailbox: Mailbox, gmail_id: str,
                         label_ids: list[str], history_id: int = 0) -> bool:
    """Gmail answered with the message's labels after a change: mirror them in the store."""
    message = stored_message(session, mailbox, gmail_id)
    if message is None:
        return False
    message.label_ids = list(label_ids)
    message.history_id = max(message.history_id, history_id)
    session.flush()
    return True


def _b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
