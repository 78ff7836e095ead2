"""A useful subset of Gmail's search syntax (``q``): from:, to:, cc:, bcc:, subject:, label:,
in:, is:, after:, before:, older_than:, newer_than:, has:attachment, filename:,
rfc822msgid:, larger:, smaller:, quoted phrases, free words and ``-`` negation.
Terms are ANDed; ``OR`` between two terms is supported. Dates are read as UTC midnight."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from datetime import UTC, datetime

from . import errors
from .mailbox import Mailbox, StoredMessage
from .mime import addresses

Predicate = Callable[[StoredMessage], bool]
_UNITS = {"d": 86400, "m": 30 * 86400, "y": 365 * 86400}


def _date_ms(value: str) -> int:
    if value.isdigit():
        return int(value) * 1000
    for fmt in ("%Y/%m/%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            return int(datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp() * 1000)
        except ValueError:
            continue
    raise errors.invalid_argument(f"Invalid search query: bad date {value!r}")


def _size(value: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmM]?)", value)
    if not m:
        raise errors.invalid_argument(f"Invalid search query: bad size {value!r}")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]


def _header_match(name: str, needle: str) -> Predicate:
    needle = needle.lower()

    def pred(msg: StoredMessage) -> bool:
        values = msg.head.headers_all(name)
        if any(needle in v.lower() for v in values):
            return True
        return any(needle in a for a in addresses(values))
    return pred


_ALIASES = {"drafts": "DRAFT", "draft": "DRAFT", "sent": "SENT", "inbox": "INBOX",
            "trash": "TRASH", "spam": "SPAM", "starred": "STARRED", "important": "IMPORTANT",
            "unread": "UNREAD", "chats": "CHAT"}


def _resolve_label(box: Mailbox, value: str) -> str | None:
    alias = _ALIASES.get(value.lower())
    if alias:
        return alias
    label = box.label_by_name_or_id(value)
    return label.id if label else None


def _term(box: Mailbox, key: str, value: str, now_ms: int) -> Predicate:
    v = value.lower()
    if key in ("from", "to", "cc", "bcc"):
        return _header_match(key.capitalize() if key != "bcc" else "Bcc", value)
    if key == "subject":
        return lambda m: v in (m.head.header("Subject") or "").lower()
    if key in ("label", "in"):
        if key == "in" and v == "anywhere":
            return lambda m: True
        label_id = _resolve_label(box, value)
        if label_id is None:
            return lambda m: False
        return lambda m: label_id in m.labels
    if key == "is":
        flags = {"unread": ("UNREAD", True), "read": ("UNREAD", False),
                 "starred": ("STARRED", True), "important": ("IMPORTANT", True)}
        if v not in flags:
            raise errors.invalid_argument(f"Invalid search query: is:{value}")
        lid, present = flags[v]
        return lambda m: (lid in m.labels) is present
    if key == "has":
        if v != "attachment":
            return lambda m: False
        return lambda m: bool(m.parsed.attachments and m.parsed.filenames)
    if key == "filename":
        return lambda m: any(v in f.lower() for f in m.parsed.filenames)
    if key == "after":
        ms = _date_ms(value)
        return lambda m: m.internal_date >= ms
    if key == "before":
        ms = _date_ms(value)
        return lambda m: m.internal_date < ms
    if key in ("newer_than", "older_than"):
        m_ = re.fullmatch(r"(\d+)([dmy])", v)
        if not m_:
            raise errors.invalid_argument(f"Invalid search query: {key}:{value}")
        limit = now_ms - int(m_.group(1)) * _UNITS[m_.group(2)] * 1000
        if key == "newer_than":
            return lambda m: m.internal_date >= limit
        return lambda m: m.internal_date < limit
    if key == "rfc822msgid":
        return lambda m: v.strip("<>") in (m.head.header("Message-ID") or "").lower()
    if key == "larger":
        n = _size(value)
        return lambda m: len(m.raw) > n
    if key == "smaller":
        n = _size(value)
        return lambda m: len(m.raw) < n
    return _words(f"{key}:{value}")


def _words(text: str) -> Predicate:
    needle = text.lower()

    def pred(msg: StoredMessage) -> bool:
        hay = " ".join([
            msg.head.header("Subject") or "", msg.head.header("From") or "",
            msg.head.header("To") or "", msg.parsed.text, " ".join(msg.parsed.filenames),
        ]).lower()
        return needle in hay
    return pred


_KEYS = {"from", "to", "cc", "bcc", "subject", "label", "in", "is", "has", "filename", "after",
         "before", "newer_than", "older_than", "rfc822msgid", "larger", "smaller"}


def compile_query(box: Mailbox, q: str, now_ms: int) -> tuple[Predicate, set[str]]:
    """Returns the predicate and the label ids the query names explicitly (so in:trash or
    label:spam lists messages a default listing would hide)."""
    try:
        tokens = shlex.split(q, posix=True)
    except ValueError as exc:
        raise errors.invalid_argument("Invalid search query") from exc
    clauses: list[list[Predicate]] = [[]]
    named: set[str] = set()
    pending_or = False
    for token in tokens:
        if token == "OR":
            pending_or = True
            continue
        negate = token.startswith("-") and len(token) > 1
        body = token[1:] if negate else token
        key, sep, value = body.partition(":")
        if sep and key.lower() in _KEYS and value:
            pred = _term(box, key.lower(), value, now_ms)
            if key.lower() in ("in", "label") and not negate:
                label_id = _resolve_label(box, value)
                if label_id:
                    named.add(label_id)
        else:
            pred = _words(body)
        if negate:
            inner = pred
            pred = lambda m, f=inner: not f(m)  # noqa: E731
        if pending_or and clauses[-1]:
            prev = clauses[-1].pop()
            pred = lambda m, a=prev, b=pred: a(m) or b(m)  # noqa: E731
        pending_or = False
        clauses[-1].append(pred)
    preds = clauses[0]
    return (lambda m: all(p(m) for p in preds)), named
