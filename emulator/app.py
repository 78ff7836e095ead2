"""The emulator's ASGI application factory. Nothing is created at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from . import control_api, oauth
from .batch import handle_batch
from .config import Settings
from .gmail_api import ApiRequest, ApiResponse, GmailApi
from .push import PushNotifier
from .quota import QuotaMeter
from .state import EmulatorState

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _to_response(resp: ApiResponse) -> Response:
    return Response(content=resp.body, status_code=resp.status, headers=resp.headers)


def create_app(
    state: EmulatorState | None = None,
    *,
    base_url: str,
    push_url: str | None = None,
    push_audience: str | None = None,
    settings: dict[str, Any] | None = None,
    start_push: bool = True,
) -> FastAPI:
    """Build the emulator app.

    ``base_url`` is where clients reach it (used in discovery documents and links);
    ``push_url`` is where Pub/Sub push notifications go (None: recorded, not sent);
    ``settings`` overrides any field of :class:`emulator.config.Settings`."""
    state = state or EmulatorState(settings=Settings())
    state.settings.base_url = base_url.rstrip("/")
    if push_url is not None:
        state.settings.push_url = push_url
    if push_audience is not None:
        state.settings.push_audience = push_audience
    if settings:
        state.settings.update(settings)
    quota = QuotaMeter(state.settings, state.clock)
    api = GmailApi(state, quota)
    push = PushNotifier(state)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_push:
            push.start()
        try:
            yield
        finally:
            push.close()

    app = FastAPI(title="Gmail emulator", lifespan=lifespan, docs_url="/_emulator/docs",
                  openapi_url="/_emulator/openapi.json", redoc_url=None)
    app.state.emulator = state
    app.state.quota = quota
    app.state.push = push
    app.state.gmail = api

    app.include_router(oauth.build_router(state))
    app.include_router(control_api.build_router(state, quota, push))

    async def _gmail(request: Request) -> Response:
        body = await request.body()
        req = ApiRequest(
            method=request.method, path=request.url.path,
            query=list(request.query_params.multi_items()),
            headers={k.lower(): v for k, v in request.headers.items()}, body=body)
        return _to_response(await run_in_threadpool(api.dispatch, req))

    app.add_api_route("/gmail/v1/{rest:path}", _gmail, methods=_METHODS,
                      include_in_schema=False)
    app.add_api_route("/upload/gmail/v1/{rest:path}", _gmail, methods=_METHODS,
                      include_in_schema=False)

    async def _batch(request: Request) -> Response:
        body = await request.body()
        resp = await run_in_threadpool(
            handle_batch, api, request.headers.get("content-type", ""), body,
            request.headers.get("authorization"))
        return _to_response(resp)

    app.add_api_route("/batch/gmail/v1", _batch, methods=["POST"], include_in_schema=False)
    app.add_api_route("/batch", _batch, methods=["POST"], include_in_schema=False)
    return app
