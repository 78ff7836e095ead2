"""The HTTP edge: what the server answers before, or instead of, the app.

- `BodyReadTimeout` (ASGI middleware): each part of a request body must arrive within
  `http_body_read_timeout_seconds` of the app asking for it. A client that declares a body and
  stalls is answered 408 `request_timeout` (problem+json, `Connection: close`) instead of holding
  a connection and an app task open. The wait is per read, so a slow upload that keeps sending
  is not cut off; only silence is.
- `BodyLimit` (ASGI middleware): request bodies larger than any valid request are refused
  before they are parsed (413 `request_too_large`). FastAPI reads a JSON body whole before
  validation, so without it a client could make the gateway hold an arbitrarily large body in
  memory. The largest valid request is a send or a draft carrying a message of
  `mail_max_message_bytes`, base64 inside JSON (4/3 of it) plus room for the JSON around it
  (`body_limit_for`). A declared Content-Length is checked before anything is read; a chunked
  body is counted as it arrives and refused as soon as it crosses the limit.
- `EdgeProtocol` (uvicorn's h11 protocol): requests h11 cannot parse (a garbage request line,
  oversized or malformed headers, a bad or repeated Content-Length, a non-ASCII target) are
  answered 400 `malformed_request` as problem+json instead of uvicorn's text/plain, and a
  connection beyond `http_max_connections` of this process is answered 503 `connection_limit`
  and closed. These answers have no route, so their `instance` is `/`, and a request id made
  here (the client's `X-Request-Id` was not read).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.kit.errors import PROBLEM_BASE

REQUEST_TIMEOUT_DETAIL = "The request body did not arrive in time; the connection is closed."


class BodyTimedOut(HTTPException):
    """Raised from `receive` when the next part of the body does not come in time. An
    HTTPException so that FastAPI's body parsing lets it through to the problem handler."""

    def __init__(self) -> None:
        super().__init__(408, REQUEST_TIMEOUT_DETAIL, headers={"Connection": "close"})


class BodyReadTimeout:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False
        started = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:  # after the body: the app waits for a disconnect, untimed
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.seconds)
            except TimeoutError:
                raise BodyTimedOut() from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, watched_send)
        except BodyTimedOut:
            # Raised where no exception handler runs (a middleware reading the body itself).
            if started:
                raise
            request_id = (scope.get("state") or {}).get("request_id") or new_request_id()
            body = problem_bytes(408, "request_timeout", "Request timeout",
                                 REQUEST_TIMEOUT_DETAIL, scope.get("path") or "/", request_id)
            await send({"type": "http.response.start", "status": 408, "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})


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


def new_request_id() -> str:
    return uuid.uuid4().hex


def problem_bytes(status: int, code: str, title: str, detail: str, instance: str,
                  request_id: str) -> bytes:
    return json.dumps({"type": PROBLEM_BASE + code, "title": title, "status": status,
                       "detail": detail, "code": code, "instance": instance,
                       "request_id": request_id}).encode()


def raw_problem_response(status: int, reason: str, code: str, title: str, detail: str,
                         extra_headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A whole HTTP/1.1 response, for answers made below the app."""
    request_id = new_request_id()
    body = problem_bytes(status, code, title, detail, "/", request_id)
    head = [f"HTTP/1.1 {status} {reason}", "content-type: application/problem+json",
            f"content-length: {len(body)}", "connection: close", f"x-request-id: {request_id}",
            *(f"{name}: {value}" for name, value in extra_headers)]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body




class EdgeProtocol(H11Protocol):
    """uvicorn's h11 protocol with the edge's own answers (see the module docstring). The
    connection limit is `max_connections` of the server's config (`TcpConfig`)."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        limit = getattr(self.config, "max_connections", None)
        if limit is not None and len(self.connections) > limit:
            self.logger.warning("Refused a connection: %d open", len(self.connections) - 1)
            transport.write(raw_problem_response(
                503, "Service Unavailable", "connection_limit", "Too many connections",
                "This server holds as many connections as it accepts; retry shortly.",
                (("retry-after", "1"),)))
            transport.close()

    def send_400_response(self, msg: str) -> None:
        self.transport.write(raw_problem_response(
            400, "Bad Request", "malformed_request", "Malformed request",
            "The request is not valid HTTP/1.1 (request line, headers or framing)."))
        self.transport.close()
