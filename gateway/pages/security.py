"""The pages' HTTP: security headers on every page response, and errors rendered as an HTML
page (same status codes and the same problem `code` as the API) for page paths.

Page paths are those under `PAGE_PREFIXES`; everything else keeps the API's
application/problem+json. A client asking only for JSON on a page path gets the problem too.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.pages.kit import render

PAGE_PREFIXES = ("/me", "/desk", "/console", "/pages/", "/session/")

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                           "base-uri 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


def is_page_path(path: str) -> bool:
    return any(path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/")
               for prefix in PAGE_PREFIXES)


class PageHeaders:
    """Pure ASGI: adds the security headers to every response on a page path (errors included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode("latin-1").lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


Handler = Callable[[Request, Exception], Awaitable[Response]]
ApiHandler = Callable[[Request, Any], Response | Awaitable[Response]]

_HINTS = {
    401: "Open this page again from your CRM: it gives you a fresh link.",
    403: "This is not allowed. If you think it should be, ask your administrator.",
    404: "There is nothing here for you: it does not exist, or it is not yours to see.",
    410: "Links work once and for a few minutes. Ask your CRM for a new one.",
}


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "json" not in accept or "text/html" in accept


def _html_error(request: Request, status: int, code: str, title: str,
                detail: str, headers: dict[str, str] | None = None) -> Response:
    response = render(request, "error.html", {
        "status": status, "code": code, "title": title, "detail": detail,
        "hint": _HINTS.get(status, "Try again later, or return to your CRM."),
        "request_id": getattr(request.state, "request_id", None)}, status_code=status)
    for name, value in (headers or {}).items():
        if name.lower() != "www-authenticate":
            response.headers[name] = value
    return response


def install_page_errors(app: FastAPI) -> None:
    """Wraps every problem handler already installed (gateway/kit/problem.py, the OAuth
    module's): a page path gets the HTML page, with the status and code the problem has."""
    for exc_class, api_handler in list(app.exception_handlers.items()):
        if isinstance(exc_class, type):
            app.add_exception_handler(exc_class, _page_or_api(api_handler))


def _page_or_api(api_handler: ApiHandler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        answer = api_handler(request, exc)
        problem = await answer if inspect.isawaitable(answer) else answer
        if not is_page_path(request.url.path) or not _wants_html(request):
            return problem
        body = json.loads(bytes(problem.body))
        headers = {k: v for k, v in problem.headers.items()
                   if k.lower() in ("allow", "retry-after")}
        return _html_error(request, problem.status_code, str(body.get("code", "error")),
                           str(body.get("title", "Error")), str(body.get("detail", "")),
                           headers)

    return handle
