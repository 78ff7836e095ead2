"""The request's database session as a FastAPI dependency (`session_dependency`), and
`run_and_commit` for handlers that commit in the same thread-pool trip as their work. Apart
from gateway/kit/db.py so that the command line can open a database without importing FastAPI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.kit.db import Database, call_and_commit, enter_unit, leave_unit

T = TypeVar("T")


def get_database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


def _end(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def run_and_commit(session: Session, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` and then the request's commit, in one thread-pool trip instead of two (the
    read handlers: their decision's log entry commits with the request as before)."""
    return await run_in_threadpool(call_and_commit, session, fn, *args)


async def session_dependency(request: Request) -> AsyncIterator[Session]:
    """FastAPI dependency: one session per request, committed when the handler succeeds.

    `async` so that opening the session (no I/O: the connection is taken on first use) costs no
    thread-pool trip; the commit, which does I/O, runs in the thread pool. A session that never
    began a transaction is closed without one."""
    session = get_database(request).sessions()
    request.state.db_session = session
    token = enter_unit(session)
    try:
        try:
            yield session
        except BaseException:
            await run_in_threadpool(_end, session, False)
            raise
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            await run_in_threadpool(_end, session, True)
        else:
            session.close()
    finally:
        leave_unit(token)
