"""Refuse request bodies larger than any valid request before they are parsed (413).

FastAPI reads a JSON body whole before validation, so without this a client could make the
gateway hold an arbitrarily large body in memory. The largest valid request is a send or a draft
carrying a message of `mail_max_message_bytes`, base64 inside JSON (4/3 of it) plus some room
for the JSON around it; anything larger is answered `413 request_too_large` as problem+json.
A declared Content-Length is checked before anything is read; a chunked body is counted as it
arrives and refused as soon as it crosses the limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.kit.errors import PROBLEM_BASE

JSON_OVERHEAD_BYTES = 1024 * 1024


def body_limit_for(max_message_bytes: int) -> int:
    return max_message_bytes * 4 // 3 + JSON_OVERHEAD_BYTES


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, limit)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No declared length (chunked): read up to the limit, then replay to the app.
        messages: list[Message] = []
        total = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total > limit:
                await _refuse(scope, send, limit)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    code = "request_too_large"
    body = json.dumps({
        "type": PROBLEM_BASE + code, "title": "Request too large", "status": 413,
        "detail": f"The request body is larger than {limit} bytes.", "code": code,
        "instance": scope.get("path"), "limit_bytes": limit,
        "request_id": (scope.get("state") or {}).get("request_id"),
    }).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
