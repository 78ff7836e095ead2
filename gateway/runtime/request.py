"""The runtime as seen from a request: `runtime_of(request)`, the typed accessor every route
and dependency reads the shared services through, and `session_dependency`, the request's
database session (committed when the handler succeeds).

The app stores its `Runtime` in one attribute, `app.state.runtime`, set by the lifespan; this
module is the one place that reads it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from gateway.kit.db import enter_unit, leave_unit
from gateway.kit.request_session import end_session
from gateway.runtime.build import Runtime

RUNTIME_ATTRIBUTE = "runtime"


def install_runtime(app: Starlette, runtime: Runtime) -> None:
    """Give the app its runtime: the lifespan does, before `yield`."""
    setattr(app.state, RUNTIME_ATTRIBUTE, runtime)


def runtime_of(source: HTTPConnection | Starlette) -> Runtime:
    """The app's runtime; `RuntimeError` outside the app's lifespan (nothing is built then)."""
    app = source.app if isinstance(source, HTTPConnection) else source
    runtime = getattr(app.state, RUNTIME_ATTRIBUTE, None)
    if not isinstance(runtime, Runtime):
        raise RuntimeError("the app's runtime is not built: its lifespan has not started")
    return runtime


async def session_dependency(request: HTTPConnection) -> AsyncIterator[Session]:
    """FastAPI dependency: one session per request, committed when the handler succeeds.

    `async` so that opening the session (no I/O: the connection is taken on first use) costs no
    thread-pool trip; the commit, which does I/O, runs in the thread pool. A session that never
    began a transaction is closed without one."""
    session = runtime_of(request).database.sessions()
    request.state.db_session = session
    token = enter_unit(session)
    try:
        try:
            yield session
        except BaseException:
            await run_in_threadpool(end_session, session, False)
            raise
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            await run_in_threadpool(end_session, session, True)
        else:
            session.close()
    finally:
        leave_unit(token)
