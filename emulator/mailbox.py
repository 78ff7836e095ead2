"""One user's mailbox: messages, threads, labels, drafts and history, and every mutation.

Each mutation records history and tells the state's change listener (push notifications)."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .clock import Clock
from .history import History, HistoryRecord
from .labels import NOT_APPLICABLE, SYSTEM_IDS, Label, sort_label_ids, system_labels
from .mime import (
    INLINE_LIMIT_DEFAULT,
    Head,
    ParsedMessage,
    addresses,
    message_ids,
    normalise_subject,
    parse_date_ms,
    parse_head,
    parse_message,
)

ChangeListener = Callable[["Mailbox", set[str]], None]


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    raw: bytes
    labels: set[str]
    internal_date: int
    history_id: int
    head: Head
    seq: int
    inline_limit: int = INLINE_LIMIT_DEFAULT
    _parsed: ParsedMessage | None = None

    @property
    def parsed(self) -> ParsedMessage:
        """The full MIME analysis, done on first use (seeding stays fast)."""
        if self._parsed is None:
            self._parsed = parse_message(self.raw, self.id, inline_limit=self.inline_limit)
        return self._parsed

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.internal_date, self.seq)

    def label_list(self) -> list[str]:
        return sort_label_ids(self.labels)


@dataclass
class Watch:
    topic: str
    label_ids: list[str]
    behavior: str
    expiration_ms: int
    history_id: int


@dataclass
class Mailbox:
    email: str
    clock: Clock
    inline_limit: int
    history_start: int = 1000
    listener: ChangeListener | None = None
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    threads: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=system_labels)
    drafts: dict[str, str] = field(default_factory=dict)
    watch: Watch | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        seed = zlib.crc32(self.email.encode())
        self.history = History(self.history_start + seed % 1000, seed)
        self._seq = 0
        self._id_base = 0x18C0_0000_0000_0000 + (seed << 20)
        self._label_seq = 0
        self._draft_seq = 0
        self._rfc_index: dict[str, str] = {}

    # ---- ids -------------------------------------------------------------------------------
    def _new_message_id(self) -> tuple[str, int]:
        self._seq += 1
        return f"{self._id_base + self._seq * 0x1F3:x}", self._seq

    def new_draft_id(self) -> str:
        self._draft_seq += 1
        return f"r{(zlib.crc32(self.email.encode()) << 24) + self._draft_seq}"

    def new_label_id(self) -> str:
        self._label_seq += 1
        return f"Label_{self._label_seq}"

    # ---- lookups ---------------------------------------------------------------------------
    def get(self, message_id: str) -> StoredMessage:
        msg = self.messages.get(message_id)
        if msg is None:
            raise errors.not_found()
        return msg

    def thread_messages(self, thread_id: str) -> list[StoredMessage]:
        ids = self.threads.get(thread_id)
        if not ids:
            raise errors.not_found()
        return sorted((self.messages[i] for i in ids), key=lambda m: m.sort_key)

    def check_labels(self, label_ids: Iterable[str], *, modifying: bool = True) -> None:
        for label_id in label_ids:
            if label_id not in self.labels or (modifying and label_id in NOT_APPLICABLE):
                raise errors.invalid_argument(f"Invalid label: {label_id}")

    def label_by_name_or_id(self, token: str) -> Label | None:
        if token in self.labels:
            return self.labels[token]
        wanted = token.lower().replace("-", " ").replace("_", " ")
        for label in self.labels.values():
            if label.name.lower().replace("-", " ").replace("_", " ") == wanted:
                return label
        return None

    # ---- history ---------------------------------------------------------------------------
    def _record(self, msg: StoredMessage, **kind: Any) -> None:
        hid = self.history.next_id()
        msg.history_id = hid
        self.history.append(HistoryRecord(
            id=hid, time=self.clock.now(), message_id=msg.id, thread_id=msg.thread_id,
            labels_after=msg.label_list(), **kind,
        ))

    def _changed(self, label_ids: set[str]) -> None:
        if self.listener is not None:
            self.listener(self, label_ids)

    # ---- mutations -------------------------------------------------------------------------
    def _find_thread(self, parsed: Head, thread_id: str | None) -> str | None:
        subject = normalise_subject(parsed.header("Subject"))
        if thread_id:
            ids = self.threads.get(thread_id)
            if ids and normalise_subject(self.messages[ids[0]].head.header("Subject")) \
                    == subject:
                return thread_id
            return None
        refs = message_ids(parsed.header("References")) + message_ids(
            parsed.header("In-Reply-To"))
        for ref in reversed(refs):
            found = self._rfc_index.get(ref)
            if found and found in self.messages:
                candidate = self.messages[found]
                if normalise_subject(candidate.head.header("Subject")) == subject:
                    return candidate.thread_id
        return None

    def add_message(
        self,
        raw: bytes,
        labels: Iterable[str] = (),
        *,
        thread_id: str | None = None,
        internal_date: int | None = None,
        date_source: str = "receivedTime",
    ) -> StoredMessage:
        with self.lock:
            label_set = set(labels)
            for label_id in label_set:
                if label_id not in self.labels:
                    raise errors.invalid_argument(f"Invalid label: {label_id}")
            message_id, seq = self._new_message_id()
            parsed = parse_head(raw)
            if internal_date is None:
                internal_date = self.clock.now_ms()
                if date_source == "dateHeader":
                    internal_date = parse_date_ms(parsed.header("Date")) or internal_date
            found = self._find_thread(parsed, thread_id)
            msg = StoredMessage(
                id=message_id, thread_id=found or message_id, raw=raw, labels=label_set,
                internal_date=internal_date, history_id=0, head=parsed, seq=seq,
                inline_limit=self.inline_limit,
            )
            self.messages[message_id] = msg
            self.threads.setdefault(msg.thread_id, []).append(message_id)
            rfc_id = parsed.header("Message-ID") or parsed.header("Message-Id")
            if rfc_id:
                for ref in message_ids(rfc_id):
                    self._rfc_index[ref] = message_id
            self._record(msg, added=True)
            self._changed(set(label_set))
            return msg

    def modify(
        self, message_id: str, add: Iterable[str] = (), remove: Iterable[str] = (),
        *, check: bool = True,
    ) -> StoredMessage:
        with self.lock:
            msg = self.get(message_id)
            add_set, remove_set = set(add), set(remove)
            if check:
                self.check_labels(add_set | remove_set)
            added = add_set - msg.labels
            removed = (remove_set - add_set) & msg.labels
            if not added and not removed:
                return msg
            msg.labels |= added
            msg.labels -= removed
            self._record(msg, labels_added=sort_label_ids(added),
                         labels_removed=sort_label_ids(removed))
            self._changed(added | removed | msg.labels)
            return msg

    def delete(self, message_id: str) -> None:
        with self.lock:
            msg = self.get(message_id)
            del self.messages[message_id]
            thread = self.threads.get(msg.thread_id, [])
            if message_id in thread:
                thread.remove(message_id)
            if not thread:
                self.threads.pop(msg.thread_id, None)
            for draft_id, mid in list(self.drafts.items()):
                if mid == message_id:
                    del self.drafts[draft_id]
            self._record(msg, deleted=True)
            self._changed(set(msg.labels))

    def trash(self, message_id: str) -> StoredMessage:
        return self.modify(message_id, add={"TRASH"}, remove={"SPAM"}, check=False)

    def untrash(self, message_id: str) -> StoredMessage:
        return self.modify(message_id, remove={"TRASH"}, check=False)

    # ---- labels ----------------------------------------------------------------------------
    def label_counts(self, label_id: str) -> tuple[int, int, int, int]:
        total = unread = 0
        threads: set[str] = set()
        unread_threads: set[str] = set()
        for msg in self.messages.values():
            if label_id in msg.labels:
                total += 1
                threads.add(msg.thread_id)
                if "UNREAD" in msg.labels:
                    unread += 1
                    unread_threads.add(msg.thread_id)
        return total, unread, len(threads), len(unread_threads)

    def remove_label_everywhere(self, label_id: str) -> None:
        with self.lock:
            for msg in list(self.messages.values()):
                if label_id in msg.labels:
                    self.modify(msg.id, remove={label_id}, check=False)
            del self.labels[label_id]

    # ---- summaries -------------------------------------------------------------------------
    def profile(self) -> dict[str, Any]:
        return {
            "emailAddress": self.email,
            "messagesTotal": len(self.messages),
            "threadsTotal": len(self.threads),
            "historyId": str(self.history.current),
        }

    def is_own_address(self, header_values: list[str]) -> bool:
        return self.email.lower() in addresses(header_values)

    def system_label_ids(self) -> frozenset[str]:
        return SYSTEM_IDS
