"""What the privacy center names: people (principals of the owner's tenant, by display name) and
mail items (messages and threads by their subject, for the mailbox's owner only).

Subjects are opened through the message store with the page's own `Access` (metadata only, so
the store's checks apply: the decision must cover this mailbox), and only when that decision was
made for the mailbox's owner: an operator or the CRM looking at the same data sees ids."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from gateway.accounts.models import Principal
from gateway.kit.ids import uuid_or_none
from gateway.mail.models import Message
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.models import Mailbox
from gateway.policy.enforcement import Access
from gateway.policy.vocabulary import ActorKind

# At most this many items get their subject looked up per page (the rest show their id).
MAX_SUBJECTS = 300
UNKNOWN_PERSON = "someone no longer known to the gateway"


@dataclass(frozen=True)
class Item:
    """A message or a thread: its Gmail id, and its subject when shown to the owner. `gone`:
    the gateway no longer holds it (deleted at Google, or the mailbox was erased)."""

    kind: str  # "message" | "thread"
    id: str
    subject: str | None = None
    gone: bool = False

    @property
    def label(self) -> str:
        noun = "message" if self.kind == "message" else "conversation"
        if self.subject is not None:
            return f"{noun} “{self.subject or '(no subject)'}”"
        return f"{noun} {self.id}"


def is_owner_view(access: Access, mailbox: Mailbox) -> bool:
    actor = access.request.actor
    return (actor.kind == ActorKind.end_user.value
            and actor.id == str(mailbox.owner_principal_id))


def person_names(session: Session, tenant_id: uuid.UUID, ids: Iterable[str | uuid.UUID | None]
                 ) -> dict[str, str]:
    """principal id (as text) → display name (or login subject) within one tenant."""
    wanted = {u for u in (uuid_or_none(str(i)) for i in ids if i) if u is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Principal.id, Principal.display_name, Principal.subject)
                           .where(Principal.id.in_(sorted(wanted)),
                                  Principal.tenant_id == tenant_id))
    return {str(pid): (name or subject) for pid, name, subject in rows}


def name_of(names: dict[str, str], principal_id: str | uuid.UUID | None) -> str:
    return names.get(str(principal_id), UNKNOWN_PERSON) if principal_id else UNKNOWN_PERSON


class ItemNamer:
    """Looks subjects up once per page for every message and thread the page names."""

    def __init__(self, session: Session, store: MessageStore, access: Access,
                 mailbox: Mailbox) -> None:
        self.session = session
        self.store = store
        self.access = access
        self.mailbox = mailbox
        self.owner = is_owner_view(access, mailbox) and mailbox.data_deleted_at is None
        self._messages: dict[str, str | None] = {}
        self._threads: dict[str, str | None] = {}

    def load(self, message_ids: Iterable[str], thread_ids: Iterable[str]) -> None:
        messages = [m for m in dict.fromkeys(message_ids) if m not in self._messages]
        threads = [t for t in dict.fromkeys(thread_ids) if t not in self._threads]
        if not self.owner:
            return
        budget = MAX_SUBJECTS - len(self._messages) - len(self._threads)
        messages, threads = messages[:max(budget, 0)], threads[:max(budget - len(messages), 0)]
        light = (defer(Message.body), defer(Message.raw))
        if messages:
            rows = self.session.scalars(select(Message).options(*light).where(
                Message.mailbox_id == self.mailbox.id, Message.gmail_id.in_(messages)))
            for message in rows:
                self._messages[message.gmail_id] = self._subject(message)
            for missing in messages:
                self._messages.setdefault(missing, None)
        if threads:
            rows = self.session.scalars(
                select(Message).options(*light)
                .where(Message.mailbox_id == self.mailbox.id, Message.thread_id.in_(threads))
                .order_by(Message.thread_id, Message.internal_date, Message.id))
            for message in rows:
                if message.thread_id not in self._threads:  # the thread's first message
                    self._threads[message.thread_id] = self._subject(message)
            for missing in threads:
                self._threads.setdefault(missing, None)

    def _subject(self, message: Message) -> str:
        subject = self.store.metadata_view(self.session, self.access, message).get("subject")
        return str(subject or "")

    def _item(self, kind: str, item_id: str, found: dict[str, str | None]) -> Item:
        if not self.owner:
            return Item(kind, item_id)
        if item_id not in found:
            self.load([item_id] if kind == "message" else [],
                      [item_id] if kind == "thread" else [])
        subject = found.get(item_id)
        return Item(kind, item_id, subject, gone=subject is None and item_id in found)

    def message(self, gmail_id: str) -> Item:
        return self._item("message", gmail_id, self._messages)

    def thread(self, thread_id: str) -> Item:
        return self._item("thread", thread_id, self._threads)

    def items(self, message_ids: Iterable[str], thread_ids: Iterable[str]) -> list[Item]:
        message_ids, thread_ids = list(message_ids), list(thread_ids)
        self.load(message_ids, thread_ids)
        return ([self.thread(t) for t in thread_ids] + [self.message(m) for m in message_ids])
