"""Ids from paths and arguments. An id that is not even well-formed answers exactly like an id
that does not exist (404 with the same code), so probing cannot tell the two apart."""

from __future__ import annotations

import uuid

from gateway.kit.errors import NotFound


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
