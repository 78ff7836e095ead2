"""The encrypted message store. Writing seals everything a person wrote under the mailbox's data
key and blind-indexes the addresses; reading requires an `Access` minted by the enforcement point
for this mailbox (and, for content, a content action covering this message)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.crypto import Binding, CryptoService
from gateway.mail.mime import parse_message
from gateway.mail.models import Mailbox, Message, MessageAddress
from gateway.policy.enforcement import Access
from gateway.policy.vocabulary import Action
from gateway.webhooks import outbox  # registers the webhook events of message changes

CONTENT_ACTIONS = frozenset({Action.message_read_content.value, Action.thread_read_content.value,
                             Action.attachment_read.value, Action.data_export.value})
SUMMARY_FIELDS = ("subject", "from", "to", "cc", "bcc", "reply_to", "snippet", "headers",
                  "attachment_names")


class AccessMismatch(PermissionError):
    """An Access for another mailbox/action was presented to the store: a programming error."""


def _binding(message: Message, column: str) -> Binding:
    return Binding(tenant=str(message.tenant_id), mailbox=str(message.mailbox_id),
                   table="messages", column=column, row=str(message.id))


class MessageStore:
    def __init__(self, crypto: CryptoService) -> None:
        self.crypto = crypto

    def put(self, session: Session, mailbox: Mailbox, *, gmail_id: str, thread_id: str,
            raw: bytes, label_ids: list[str], history_id: int = 0,
            internal_date: datetime | None = None, size_estimate: int | None = None) -> Message:
        """Insert a message, or refresh labels/history of one already stored (Gmail messages
        are immutable apart from their labels)."""
        existing = session.scalar(select(Message).where(Message.mailbox_id == mailbox.id,
                                                        Message.gmail_id == gmail_id))
        if existing is not None:
            existing.label_ids = list(label_ids)
            existing.history_id = max(existing.history_id, history_id)
            session.flush()
            return existing
        parsed = parse_message(raw)
        message = Message(id=uuid.uuid4(), tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id,
                          gmail_id=gmail_id, thread_id=thread_id, history_id=history_id,
                          internal_date=internal_date or parsed.date or datetime.now(UTC),
                          label_ids=list(label_ids),
                          size_estimate=size_estimate if size_estimate is not None else len(raw),
                          attachment_count=len(parsed.attachments))
        summary = {
            "subject": parsed.subject, "from": parsed.from_, "to": parsed.to, "cc": parsed.cc,
            "bcc": parsed.bcc, "reply_to": parsed.reply_to, "snippet": parsed.snippet,
            "headers": parsed.headers,
            "attachment_names": [a.filename for a in parsed.attachments],
            "attachments": [{"part_id": a.part_id, "filename": a.filename,
                             "mime_type": a.mime_type, "size": a.size}
                            for a in parsed.attachments],
        }
        body = {"text": parsed.text, "html": parsed.html}
        seal = self.crypto.seal
        message.summary = seal(session, _binding(message, "summary"), _dumps(summary))
        message.body = seal(session, _binding(message, "body"), _dumps(body))
        message.raw = seal(session, _binding(message, "raw"), raw)
        session.add(message)
        session.flush()
        indexes: set[tuple[str, bytes]] = set()
        for role, address in parsed.addresses():
            try:
                indexes.add((role, self.crypto.blind_index_email(mailbox.tenant_id, address)))
            except ValueError:
                continue
        session.add_all(MessageAddress(message_id=message.id, role=role, address_index=index,
                                       mailbox_id=mailbox.id) for role, index in indexes)
        session.flush()
        return message

    def remove(self, session: Session, mailbox: Mailbox, gmail_id: str) -> bool:
        outbox.message_removing(session, mailbox, gmail_id)  # a Core delete: no mapper event
        result = session.execute(delete(Message).where(Message.mailbox_id == mailbox.id,
                                                       Message.gmail_id == gmail_id))
        return bool(getattr(result, "rowcount", 0))

    # -- reading: only with an Access ------------------------------------------------------------

    def _check(self, access: Access, message: Message, *, content: bool) -> None:
        if not access.covers(tenant=str(message.tenant_id), mailbox=str(message.mailbox_id)):
            raise AccessMismatch("this Access was granted for another mailbox")
        if content:
            if access.request.action not in CONTENT_ACTIONS:
                raise AccessMismatch("content needs a content decision")
            ids = access.request.resource.ids
            thread = access.request.resource.thread_id
            if ids and message.gmail_id not in ids and thread != message.thread_id:
                raise AccessMismatch("this Access was granted for other messages")

    def metadata_view(self, session: Session, access: Access, message: Message
                      ) -> dict[str, Any]:
        """Ids, dates, labels, sizes; plus the summary fields the decision does not redact."""
        self._check(access, message, content=False)
        return self._metadata(session, access, message, None)

    def _metadata(self, session: Session, access: Access, message: Message,
                  summary: dict[str, Any] | None) -> dict[str, Any]:
        """The metadata view; `summary` when the caller already opened it (content view)."""
        view: dict[str, Any] = {
            "id": message.gmail_id, "thread_id": message.thread_id,
            "internal_date": message.internal_date, "label_ids": list(message.label_ids),
            "unread": "UNREAD" in message.label_ids, "size_estimate": message.size_estimate,
            "attachment_count": message.attachment_count, "history_id": message.history_id,
        }
        redact = set(access.decision.obligations.get("redact", ()))
        wanted = [f for f in SUMMARY_FIELDS if f not in redact and f != "headers"]
        if wanted:
            if summary is None:
                summary = json.loads(self.crypto.open(session, _binding(message, "summary"),
                                                      message.summary))
            view.update({f: summary.get(f) for f in wanted})
        view["redacted"] = sorted(redact)
        return view

    def content_view(self, session: Session, access: Access, message: Message
                     ) -> dict[str, Any]:
        self._check(access, message, content=True)
        summary = json.loads(self.crypto.open(session, _binding(message, "summary"),
                                              message.summary))
        body = json.loads(self.crypto.open(session, _binding(message, "body"), message.body))
        view = self._metadata(session, access, message, summary)  # opened once, not twice
        view.update({"headers": [{"name": k, "value": v} for k, v in summary["headers"]],
                     "text": body["text"], "html": body["html"],
                     "attachments": summary["attachments"]})
        return view

    def raw_bytes(self, session: Session, access: Access, message: Message) -> bytes:
        self._check(access, message, content=True)
        return self.crypto.open(session, _binding(message, "raw"), message.raw)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode("utf-8")
