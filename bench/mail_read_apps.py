"""The bench-only apps bench/mail_read_bench.py gives uvicorn: the production app plus an
unguarded read of the same rows, and two floors. Never part of the production app: only
`bench_app()`, this benchmark's uvicorn factory, includes them (see mail_read_bench.py).
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request

from gateway.accounts.deps import CallerDep, PurposeDep, SessionDep
from gateway.kit.request_session import run_and_commit
from gateway.mail.models import Message
from gateway.mail.read.resolvers import MessageColumns, load_message

# --- the bench-only, unguarded read (never part of the production app) --------------------------

def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


def _unguarded_router() -> APIRouter:
    """The same row reads as the guarded routes, minus policy, operation log and decryption.

    Shaped like the guarded routes: the same dependencies (API key, purpose, request session),
    the same one-query load of mailbox and message with the same columns
    (`gateway.mail.read.resolvers.load_message`), an async endpoint that does its database work in
    one thread-pool trip together with the commit of the request transaction."""
    router = APIRouter(prefix="/bench-only/unguarded/mailboxes/{mailbox_id}/messages")

    def metadata(message: Message) -> dict[str, Any]:
        return {"id": message.gmail_id, "thread_id": message.thread_id,
                "internal_date": message.internal_date, "label_ids": list(message.label_ids),
                "unread": "UNREAD" in message.label_ids, "size_estimate": message.size_estimate,
                "attachment_count": message.attachment_count, "history_id": message.history_id,
                "summary": _b64(message.summary.blob), "redacted": []}

    def read(session: Any, caller: Any, mailbox_id: str, message_id: str,
             content: bool) -> dict[str, Any]:
        columns = MessageColumns.content if content else MessageColumns.metadata
        _, message = load_message(session, caller, mailbox_id, message_id, columns)
        view = metadata(message)
        if content:
            view.update({"headers": [], "text": _b64(message.body.blob), "html": None,
                         "attachments": []})
        return view

    async def get_message(mailbox_id: str, message_id: str, request: Request, caller: CallerDep,
                          purpose: PurposeDep, session: SessionDep) -> dict[str, Any]:
        return await run_and_commit(session, read, session, caller, mailbox_id, message_id,
                                    False)

    async def get_content(mailbox_id: str, message_id: str, request: Request, caller: CallerDep,
                          purpose: PurposeDep, session: SessionDep) -> dict[str, Any]:
        return await run_and_commit(session, read, session, caller, mailbox_id, message_id,
                                    True)

    router.add_api_route("/{message_id}", get_message, methods=["GET"])
    router.add_api_route("/{message_id}/content", get_content, methods=["GET"])
    return router


# Floors: what this machine's HTTP stack costs with no work at all, measured by the same
# generator. `asgi`: uvicorn + h11 and a bare ASGI callable (answered before the app's
# middleware); `fastapi`: the production app's middleware, routing and an async endpoint
# returning a small JSON object (no database, no dependencies).
FLOOR_PATHS = {"asgi": "/bench-only/floor/asgi", "fastapi": "/bench-only/floor/fastapi"}
_FLOOR_BODY = b'{"ok":true}'


def _floor_router() -> APIRouter:
    router = APIRouter()

    async def hello() -> dict[str, bool]:
        return {"ok": True}

    router.add_api_route(FLOOR_PATHS["fastapi"], hello, methods=["GET"])
    return router


def _with_asgi_floor(app: Any) -> Any:
    async def outer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == FLOOR_PATHS["asgi"]:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(_FLOOR_BODY)).encode())]})
            await send({"type": "http.response.body", "body": _FLOOR_BODY})
            return
        await app(scope, receive, send)

    return outer


def bench_fastapi_app() -> Any:
    """The production app plus the unguarded router and the FastAPI floor route."""
    from gateway.app import create_app
    from gateway.kit.logs import configure_logging
    from gateway.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level)
    from gateway.mail.router import router as mail_router

    app = create_app(settings)
    app.include_router(_unguarded_router())
    app.include_router(_floor_router())
    # FastAPI matches included routers in order (~0.2 ms of CPU to walk past all of them): put
    # the bench routers right behind the mail router (the guarded message routes are in it), so
    # that the unguarded read and the floor pay about the route matching of the guarded read.
    routes = app.router.routes
    ours = routes[-2:]
    del routes[-2:]
    at = next((i + 1 for i, r in enumerate(routes)
               if getattr(r, "original_router", None) is mail_router.router), len(routes))
    routes[at:at] = ours
    return app


def bench_app() -> Any:
    """uvicorn factory for this benchmark only: `bench_fastapi_app()` behind the ASGI floor."""
    return _with_asgi_floor(bench_fastapi_app())
