"""Header values exactly as `email.policy.default` renders them, without running its header
parser when the value is already written the way that parser would print it.

Why: `headerregistry` parses every structured header (From, To, Date, Message-ID,
Content-Type, ...) into a token tree only to print it back; for the ingest path that was ~1 ms
per message, most of the parse. For a value in the *canonical* forms below, `str()` of the
registry's header object is the value itself (Date: `format_datetime(parsedate_to_datetime(v))`,
which is what `DateHeader.parse` computes), so we return a plain `str` — the same thing the
legacy `Message` accessors (`get_content_type`, `get_param`, `get_filename`, ...) and
`str(msg[name])` work on. Anything else goes through the registry as before.

Canonical forms (ASCII, no encoded word `=?`, checked by full-match regular expressions):
- address lists (From/To/Cc/Bcc/Reply-To/Sender/Resent-*): items joined by ", ", each
  `local@domain` or `Display Words <local@domain>`, words made of atext without a dot,
  local part and domain dot-atoms; `fast_addresses` gives `getaddresses`' pairs for them;
- Message-ID: `<dot-atom@dot-atom>`;
- Content-Type / Content-Disposition: `type/subtype` (or a disposition token), then
  `; attribute="quoted value"` parameters (distinct names without RFC 2231 `*`; a non-empty
  value without backslash or quote);
- Date: any value `parsedate_to_datetime` accepts.
tests/mime/test_parse_equivalence.py checks every form against the registry, including
generated near-misses that must fall back.
"""

from __future__ import annotations

import re
from email.utils import format_datetime, parsedate_to_datetime

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_ADDR_SPEC = rf"{_DOT_ATOM}@{_DOT_ATOM}"
_MAILBOX = re.compile(rf"(?:({_ATEXT}+(?: {_ATEXT}+)*) <({_ADDR_SPEC})>|({_ADDR_SPEC}))")
_MESSAGE_ID = re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>")
_PARAM_ATOM = r"[A-Za-z0-9!#$&+.^_`{|}~-]+"  # RFC 2045 token without '*', "'" and '%' (RFC 2231)
_PARAMS = rf'(?:; {_PARAM_ATOM}="[ !#-\[\]-~]+")*'
_CONTENT_TYPE = re.compile(rf"{_PARAM_ATOM}/{_PARAM_ATOM}{_PARAMS}")
_DISPOSITION = re.compile(rf"{_PARAM_ATOM}{_PARAMS}")
_PARAM_NAME = re.compile(rf'; ({_PARAM_ATOM})="')  # a quoted value holds no '"': names only

ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender", "resent-from",
                             "resent-to", "resent-cc", "resent-bcc", "resent-sender"})
_DATE_HEADERS = frozenset({"date", "resent-date", "orig-date"})


def _plain(value: str) -> bool:
    return value.isascii() and "=?" not in value


def fast_addresses(value: str) -> list[tuple[str, str]] | None:
    """`getaddresses([value])` for a canonical address list; None for any other value."""
    if not value or not _plain(value):
        return None
    out: list[tuple[str, str]] = []
    for item in value.split(", "):
        match = _MAILBOX.fullmatch(item)
        if match is None:
            return None
        name, addr, bare = match.groups()
        out.append((name, addr) if bare is None else ("", bare))
    return out


def fast_value(name: str, value: str) -> str | None:
    """`str(email.policy.default.header_fetch_parse(name, value))` for an unfolded value in a
    canonical form of a structured header; None when the registry must decide."""
    lowered = name.lower()
    if lowered in _DATE_HEADERS:
        if not value:
            return None
        try:
            return format_datetime(parsedate_to_datetime(value))
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    if not _plain(value):
        return None
    if lowered in ADDRESS_HEADERS:
        return value if fast_addresses(value) is not None else None
    if lowered == "message-id":
        return value if _MESSAGE_ID.fullmatch(value) else None
    if lowered == "content-type":
        return value if _CONTENT_TYPE.fullmatch(value) and _distinct(value) else None
    if lowered == "content-disposition":
        return value if _DISPOSITION.fullmatch(value) and _distinct(value) else None
    return None


def _distinct(value: str) -> bool:
    """The registry keeps only the first of repeated parameter names."""
    names = [name.lower() for name in _PARAM_NAME.findall(value)]
    return len(names) == len(set(names))
