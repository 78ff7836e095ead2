"""The encrypted message store. Writing seals everything a person wrote under the mailbox's data
key and blind-indexes the addresses; reading requires an `Access` minted by the enforcement point
for this mailbox (and, for content, a content action covering this message)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session, load_only

from gateway.crypto import Binding, CryptoService
from gateway.crypto.service import MailboxSealer
from gateway.kit.timeutil import utcnow
from gateway.mail.models import Message, MessageAddress
from gateway.mail.store.events import message_removing  # registers the message events too
from gateway.mail.store.insert import MessageInserter
from gateway.mailboxes.models import Mailbox
from gateway.mime.parse import ParsedMessage, parse_message
from gateway.mime.text import valid_json
from gateway.outbox.models import EventType
from gateway.outbox.rows import EVENT_TABLE, event_row
from gateway.policy.enforcement import Access
from gateway.policy.vocabulary import Action

CONTENT_ACTIONS = frozenset({Action.message_read_content.value, Action.thread_read_content.value,
                             Action.attachment_read.value, Action.data_export.value})
SUMMARY_FIELDS = ("subject", "from", "to", "cc", "bcc", "reply_to", "snippet", "headers",
                  "attachment_names")


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_MESSAGES = cast(Table, Message.__table__)
_ADDRESSES = cast(Table, MessageAddress.__table__)
# Existing rows are looked up without their sealed columns (the raw message is the big one).
_LIGHT = load_only(Message.id, Message.tenant_id, Message.mailbox_id, Message.gmail_id,
                   Message.thread_id, Message.label_ids, Message.history_id, Message.stored_at)


@dataclass(frozen=True)
class IncomingMessage:
    """One message for `MessageStore.put_many` (the arguments of `put`)."""

    gmail_id: str
    thread_id: str
    raw: bytes
    label_ids: list[str]
    history_id: int = 0
    internal_date: datetime | None = None
    size_estimate: int | None = None


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
        existing = session.scalar(select(Message).options(_LIGHT).where(
            Message.mailbox_id == mailbox.id, Message.gmail_id == gmail_id))
        if existing is not None:
            existing.label_ids = list(label_ids)
            existing.history_id = max(existing.history_id, history_id)
            session.flush()
            return existing
        parsed = parse_message(raw)
        row = self._row(session, mailbox, IncomingMessage(
            gmail_id, thread_id, raw, label_ids, history_id, internal_date, size_estimate),
            parsed)
        message = Message(**row)
        session.add(message)
        session.flush()
        session.add_all(MessageAddress(**a) for a in self._addresses(mailbox, row["id"], parsed))
        session.flush()
        return message

    def put_many(self, session: Session, mailbox: Mailbox,
                 items: Sequence[IncomingMessage]) -> int:
        """`put` for a batch, in a few statements instead of a few per message: one lookup of
        the batch's stored ids, an INSERT ... ON CONFLICT (mailbox, gmail id) DO NOTHING
        RETURNING id per new message sent as soon as it is sealed (on PostgreSQL pipelined, the
        server storing one while the next is parsed: `MessageInserter`), one multi-row INSERT
        each for addresses and webhook events of what went in, and the label refreshes of
        messages already stored through the ORM (their `message.updated` events as with `put`).
        The mailbox's data key is looked up once per batch (`CryptoService.sealer`). Returns how
        many messages were inserted."""
        by_id = {item.gmail_id: item for item in items}  # a repeated id: the last one wins
        if not by_id:
            return 0
        existing = {m.gmail_id: m for m in session.scalars(select(Message).options(_LIGHT).where(
            Message.mailbox_id == mailbox.id, Message.gmail_id.in_(list(by_id))))}
        for gmail_id, message in existing.items():
            item = by_id[gmail_id]
            message.label_ids = list(item.label_ids)
            message.history_id = max(message.history_id, item.history_id)
        new = [item for gmail_id, item in by_id.items() if gmail_id not in existing]
        session.flush()  # the label refreshes (and anything pending) before the inserts
        if not new:
            return 0
        sealer = self.crypto.sealer(session, mailbox.tenant_id, mailbox.id)
        rows: list[dict[str, Any]] = []
        parsed: list[ParsedMessage] = []
        with MessageInserter(session) as inserter:  # PostgreSQL stores n while n+1 is sealed
            for item in new:
                parsed.append(parse_message(item.raw))
                rows.append(self._sealed_row(sealer, mailbox, item, parsed[-1]))
                inserter.add(rows[-1])
        inserted = inserter.inserted()
        kept = [(row, p) for row, p in zip(rows, parsed, strict=True) if row["id"] in inserted]
        addresses = self._address_rows(mailbox, kept)
        if addresses:
            session.execute(insert(_ADDRESSES), addresses)
        if kept:
            session.execute(insert(EVENT_TABLE), [event_row(
                EventType.message_created, mailbox.tenant_id, mailbox.id,
                {"message_id": row["gmail_id"], "thread_id": row["thread_id"],
                 "label_ids": list(row["label_ids"])}) for row, _ in kept])
        return len(kept)

    def _row(self, session: Session, mailbox: Mailbox, item: IncomingMessage,
             parsed: ParsedMessage) -> dict[str, Any]:
        """The `messages` row of a new message, its content sealed under the mailbox's key."""
        return self._sealed_row(self.crypto.sealer(session, mailbox.tenant_id, mailbox.id),
                                mailbox, item, parsed)

    @staticmethod
    def _sealed_row(sealer: MailboxSealer, mailbox: Mailbox, item: IncomingMessage,
                    parsed: ParsedMessage) -> dict[str, Any]:
        message_id = uuid.uuid4()
        row = str(message_id)
        summary = {
            "subject": parsed.subject, "from": parsed.from_, "to": parsed.to, "cc": parsed.cc,
            "bcc": parsed.bcc, "reply_to": parsed.reply_to, "snippet": parsed.snippet,
            "headers": parsed.headers,
            "attachment_names": [a.filename for a in parsed.attachments],
            "attachments": [{"part_id": a.part_id, "filename": a.filename,
                             "mime_type": a.mime_type, "size": a.size}
                            for a in parsed.attachments],
            "reports": [{"part_id": r.part_id, "mime_type": r.mime_type,
                         "fields": [[{"name": k, "value": v} for k, v in block]
                                    for block in r.fields]} for r in parsed.reports],
        }
        body = {"text": parsed.text, "html": parsed.html}
        now = utcnow()
        return {
            "id": message_id, "tenant_id": mailbox.tenant_id, "mailbox_id": mailbox.id,
            "gmail_id": item.gmail_id, "thread_id": item.thread_id,
            "history_id": item.history_id,
            "internal_date": item.internal_date or parsed.date or now,
            "label_ids": list(item.label_ids),
            "size_estimate": (item.size_estimate if item.size_estimate is not None
                              else len(item.raw)),
            "attachment_count": len(parsed.attachments),
            "summary": sealer.seal("messages", "summary", row, _dumps(summary)),
            "body": sealer.seal("messages", "body", row, _dumps(body)),
            "raw": sealer.seal("messages", "raw", row, item.raw),
            "stored_at": now,
        }

    def _address_rows(self, mailbox: Mailbox,
                      messages: Sequence[tuple[dict[str, Any], ParsedMessage]]
                      ) -> list[dict[str, Any]]:
        """Blind-index rows of the batch's addresses, each distinct address indexed once (the
        mailbox's own address is on most messages)."""
        indexes: dict[str, bytes | None] = {}
        out: list[dict[str, Any]] = []
        for row, parsed in messages:
            seen: set[tuple[str, bytes]] = set()
            for role, address in parsed.addresses():
                if address not in indexes:
                    try:
                        indexes[address] = self.crypto.blind_index_email(mailbox.tenant_id,
                                                                         address)
                    except ValueError:
                        indexes[address] = None
                index = indexes[address]
                if index is not None:
                    seen.add((role, index))
            out.extend({"message_id": row["id"], "role": role, "address_index": index,
                        "mailbox_id": mailbox.id} for role, index in sorted(seen))
        return out

    def _addresses(self, mailbox: Mailbox, message_id: uuid.UUID, parsed: ParsedMessage
                   ) -> list[dict[str, Any]]:
        """Blind-index rows of the message's addresses (one per role and address)."""
        return self._address_rows(mailbox, [({"id": message_id}, parsed)])

    def remove(self, session: Session, mailbox: Mailbox, gmail_id: str) -> bool:
        message_removing(session, mailbox, gmail_id)  # a Core delete: no mapper event
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
                summary = _loads(self.crypto.open_content(
                    session, access, _binding(message, "summary"), message.summary))
            view.update({f: summary.get(f) for f in wanted})
        view["redacted"] = sorted(redact)
        return view

    def content_view(self, session: Session, access: Access, message: Message
                     ) -> dict[str, Any]:
        self._check(access, message, content=True)
        summary = _loads(self.crypto.open_content(session, access, _binding(message, "summary"),
                                                  message.summary))
        body = _loads(self.crypto.open_content(session, access, _binding(message, "body"),
                                               message.body))
        view = self._metadata(session, access, message, summary)  # opened once, not twice
        view.update({"headers": [{"name": k, "value": v} for k, v in summary["headers"]],
                     "text": body["text"], "html": body["html"],
                     "attachments": summary["attachments"],
                     "reports": summary.get("reports", [])})
        return view

    def raw_bytes(self, session: Session, access: Access, message: Message) -> bytes:
        self._check(access, message, content=True)
        return self.crypto.open_content(session, access, _binding(message, "raw"), message.raw)


def _loads(data: bytes) -> Any:
    """A sealed JSON document, under the replacement rule of `gateway.mime.text`: a document
    holding an escaped surrogate (`\\udXXX`: how `json.dumps` writes characters beyond U+FFFF
    and lone surrogates alike) is cleaned, so what is served is valid Unicode whatever was
    stored."""
    value = json.loads(data)
    return valid_json(value) if _SURROGATE_ESCAPE.search(data) else value


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode("utf-8")

