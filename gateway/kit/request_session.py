"""How a request's database session ends (`end_session`: commit or roll back, then close) and
`run_and_commit` for handlers that commit in the same thread-pool trip as their work. The
session itself is opened by `gateway.runtime.session_dependency`, from the app's runtime. Apart
from gateway/kit/db.py so that the command line can open a database without importing FastAPI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.kit.db import call_and_commit

T = TypeVar("T")


def end_session(session: Session, commit: bool) -> None:
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
