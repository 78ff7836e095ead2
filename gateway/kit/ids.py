"""Ids from paths and arguments, and the shapes of Gmail's ids. An id that is not even
well-formed answers exactly like an id that does not exist (404 with the same code), so probing
cannot tell the two apart.

Gmail's message, thread and draft ids are short: 16 hex digits for messages and threads
(`18c2f0a1b2c3d4e5`), `r` and a decimal number for drafts; the gateway stores message and
thread ids in 64-character columns, so 64 bounds them. Label ids are `INBOX`,
`CATEGORY_PROMOTIONS` or `Label_` and a number, stored in a 128-character column. Both use the
URL-safe alphabet and nothing else, so an id is safe in a path, a LIKE pattern and a log line."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import StringConstraints

from gateway.kit.errors import NotFound

GMAIL_ID_PATTERN = r"^[0-9A-Za-z_-]{1,64}$"
LABEL_ID_PATTERN = r"^[0-9A-Za-z_-]{1,128}$"
GMAIL_ID = re.compile(GMAIL_ID_PATTERN)
LABEL_ID = re.compile(LABEL_ID_PATTERN)
GmailId = Annotated[str, StringConstraints(pattern=GMAIL_ID_PATTERN)]


def uuid_or_none(raw: str | None) -> uuid.UUID | None:
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def uuid_or_not_found(raw: str, *, what: str, code: str) -> uuid.UUID:
    parsed = uuid_or_none(raw)
    if parsed is None:
        raise NotFound(f"no such {what}", code=code)
    return parsed
