"""Gmail resources (Message, Thread) rendered in each ``format``."""

from __future__ import annotations

import copy
from typing import Any

from . import errors
from .mailbox import StoredMessage
from .mime import b64url_padded

FORMATS = ("full", "metadata", "minimal", "raw")


def check_format(fmt: str | None) -> str:
    fmt = (fmt or "full").lower()
    if fmt not in FORMATS:
        raise errors.invalid_argument(f"Invalid value at 'format' ({fmt})")
    return fmt


def _base(msg: StoredMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"id": msg.id, "threadId": msg.thread_id}
    if msg.labels:
        out["labelIds"] = msg.label_list()
    return out


def _tail(msg: StoredMessage, out: dict[str, Any]) -> dict[str, Any]:
    out["sizeEstimate"] = len(msg.raw)
    out["historyId"] = str(msg.history_id)
    out["internalDate"] = str(msg.internal_date)
    return out


def message_resource(msg: StoredMessage, fmt: str = "full",
                     metadata_headers: list[str] | None = None) -> dict[str, Any]:
    out = _base(msg)
    if fmt == "minimal":
        out["snippet"] = msg.parsed.snippet
        return _tail(msg, out)
    out["snippet"] = msg.parsed.snippet
    if fmt == "raw":
        _tail(msg, out)
        out["raw"] = b64url_padded(msg.raw)
        return out
    payload = msg.parsed.payload
    if fmt == "metadata":
        wanted = {h.lower() for h in metadata_headers or []}
        headers = [h for h in payload["headers"] if not wanted or h["name"].lower() in wanted]
        out["payload"] = {"partId": payload["partId"], "mimeType": payload["mimeType"],
                          "filename": payload["filename"], "headers": copy.deepcopy(headers)}
        return _tail(msg, out)
    out["payload"] = copy.deepcopy(payload)
    return _tail(msg, out)


def message_ref(msg: StoredMessage) -> dict[str, Any]:
    return {"id": msg.id, "threadId": msg.thread_id}


def thread_resource(messages: list[StoredMessage], fmt: str = "full",
                    metadata_headers: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": messages[0].thread_id,
        "historyId": str(max(m.history_id for m in messages)),
        "messages": [message_resource(m, fmt, metadata_headers) for m in messages],
    }


def thread_summary(messages: list[StoredMessage]) -> dict[str, Any]:
    latest = max(messages, key=lambda m: m.sort_key)
    return {"id": latest.thread_id, "snippet": latest.parsed.snippet,
            "historyId": str(max(m.history_id for m in messages))}
