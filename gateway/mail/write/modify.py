"""Organising messages: change labels, mark read/unread, trash/untrash.

Gmail first (`messages.modify`, `messages.trash`, `messages.untrash`), then the stored copy's
`label_ids` become what Gmail answered. Label ids are checked before Gmail is called: an id that
is neither a Gmail system label nor one of the mailbox's labels (the store's, refreshed from
Gmail once when it does not know an id) is a 422 `unknown_label`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from gateway.accounts.deps import SessionDep
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.kit.errors import ValidationFailed
from gateway.mail.store.labels import LabelStore
from gateway.mail.write.schemas import MessageLabelsOut, ModifyIn
from gateway.mail.write.service import Gmail, update_stored_labels, write_object
from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of

router = GuardedRouter(prefix="/v1/mailboxes/{mailbox_id}/messages/{message_id}",
                       tags=["organise"])

# Gmail's system labels a client may name (SENT and DRAFT exist but cannot be applied; Gmail
# itself refuses them, which the API reports as 422 gmail_rejected).
SYSTEM_LABELS = frozenset({"INBOX", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT", "SENT",
                           "DRAFT", "CHAT", "CATEGORY_PERSONAL", "CATEGORY_SOCIAL",
                           "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS"})
_MESSAGE = {"what": "message", "not_found": "message_not_found"}
_one_message = write_object("message", "message_id", what="message", code="message_not_found")


def label_store(request: Request) -> LabelStore:
    return runtime_of(request).service(LabelStore)


def refresh_labels(request: Request, session: Session, mailbox: Mailbox,
                   gmail: Gmail) -> set[str]:
    """Gmail's labels of the mailbox, written to the store (one `labels.list`, 1 unit)."""
    listed = gmail.call(lambda c: c.users.labels().list(userId="me"), what="labels",
                        not_found="labels_not_found")
    labels = label_store(request).replace_all(session, mailbox, listed.get("labels") or [])
    return {label.gmail_label_id for label in labels}


def check_labels(request: Request, session: Session, mailbox: Mailbox, gmail: Gmail,
                 wanted: list[str]) -> None:
    unknown = set(wanted) - SYSTEM_LABELS - label_store(request).ids(session, mailbox)
    if unknown:
        unknown -= refresh_labels(request, session, mailbox, gmail)
    if unknown:
        raise ValidationFailed("unknown label ids: " + ", ".join(sorted(unknown)),
                               code="unknown_label", extra={"label_ids": sorted(unknown)})


def _answer(session: Session, mailbox: Mailbox, result: dict[str, Any]) -> MessageLabelsOut:
    labels = list(result.get("labelIds") or [])
    stored = update_stored_labels(session, mailbox, str(result["id"]), labels,
                                  int(result.get("historyId") or 0))
    return MessageLabelsOut(id=str(result["id"]), thread_id=str(result.get("threadId")),
                            label_ids=labels, unread="UNREAD" in labels, stored=stored)


def _modify(request: Request, session: Session, message_id: str, add: list[str],
            remove: list[str]) -> MessageLabelsOut:
    mailbox: Mailbox = request.state.mailbox
    gmail = Gmail(request, session, mailbox)
    check_labels(request, session, mailbox, gmail, add + remove)
    result = gmail.call(lambda c: c.users.messages().modify(
        userId="me", id=message_id, body={"addLabelIds": add, "removeLabelIds": remove}),
        **_MESSAGE)
    return _answer(session, mailbox, result)


def modify_labels(mailbox_id: str, message_id: str, body: ModifyIn, request: Request,
                  session: SessionDep, access: AccessDep) -> MessageLabelsOut:
    return _modify(request, session, message_id, body.add_label_ids, body.remove_label_ids)


def mark_read(mailbox_id: str, message_id: str, request: Request, session: SessionDep,
              access: AccessDep) -> MessageLabelsOut:
    return _modify(request, session, message_id, [], ["UNREAD"])


def mark_unread(mailbox_id: str, message_id: str, request: Request, session: SessionDep,
                access: AccessDep) -> MessageLabelsOut:
    return _modify(request, session, message_id, ["UNREAD"], [])


def trash(mailbox_id: str, message_id: str, request: Request, session: SessionDep,
          access: AccessDep) -> MessageLabelsOut:
    mailbox: Mailbox = request.state.mailbox
    result = Gmail(request, session, mailbox).call(
        lambda c: c.users.messages().trash(userId="me", id=message_id), **_MESSAGE)
    return _answer(session, mailbox, result)


def untrash(mailbox_id: str, message_id: str, request: Request, session: SessionDep,
            access: AccessDep) -> MessageLabelsOut:
    mailbox: Mailbox = request.state.mailbox
    result = Gmail(request, session, mailbox).call(
        lambda c: c.users.messages().untrash(userId="me", id=message_id), **_MESSAGE)
    return _answer(session, mailbox, result)


_OUT: dict[str, Any] = {"response_model": MessageLabelsOut}
router.add("POST", "/modify", modify_labels, action=Action.message_modify,
           resource=_one_message, summary="Add and remove labels", **_OUT)
router.add("POST", "/mark-read", mark_read, action=Action.message_modify,
           resource=_one_message, summary="Mark read (remove UNREAD)", **_OUT)
router.add("POST", "/mark-unread", mark_unread, action=Action.message_modify,
           resource=_one_message, summary="Mark unread (add UNREAD)", **_OUT)
router.add("POST", "/trash", trash, action=Action.message_delete, resource=_one_message,
           summary="Move to the trash (Gmail deletes it for good after 30 days)", **_OUT)
router.add("POST", "/untrash", untrash, action=Action.message_modify,
           resource=_one_message, summary="Take out of the trash", **_OUT)
