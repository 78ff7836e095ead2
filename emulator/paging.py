"""Page tokens: opaque numeric cursors, stable while the list changes between pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from . import errors

T = TypeVar("T")


def encode(key: tuple[int, int]) -> str:
    return f"{key[0]:015d}{key[1]:010d}"


def decode(token: str) -> tuple[int, int]:
    if not token.isdigit() or len(token) != 25:
        raise errors.invalid_argument("Invalid pageToken")
    return int(token[:15]), int(token[15:])


def page_desc(items: Sequence[T], key: Callable[[T], tuple[int, int]], token: str | None,
              size: int) -> tuple[list[T], str | None]:
    """``items`` sorted by key descending; return the page after the cursor and the next one."""
    start = 0
    if token:
        cursor = decode(token)
        while start < len(items) and key(items[start]) >= cursor:
            start += 1
    page = list(items[start: start + size])
    more = start + size < len(items)
    return page, (encode(key(page[-1])) if more and page else None)
