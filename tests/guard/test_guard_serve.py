"""`Guard(serve=...)`: the route's work runs in the guard after the decision; an endpoint can
only hand back what a decided guard served."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from gateway.guard.routing import GuardedRouter, UnguardedRoute, served
from gateway.policy.vocabulary import Action


async def _endpoint() -> dict[str, Any]:
    return {}


def _work(*_: Any) -> dict[str, Any]:
    return {"served": True}


def test_serve_needs_a_policy_action() -> None:
    with pytest.raises(UnguardedRoute, match="needs a policy action"):
        GuardedRouter().add("GET", "/x", _endpoint, public="health check", serve=_work)


def test_served_refuses_without_a_decision() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    request.state.served = {"leaked": True}  # even if something put a result there
    with pytest.raises(UnguardedRoute):
        served(request)


def test_a_guarded_route_with_serve_carries_its_guard() -> None:
    from gateway.guard.routing import route_guard

    router = GuardedRouter()
    router.add("GET", "/x/{message_id}", _endpoint, action=Action.message_read_metadata,
               serve=_work)
    (route,) = router.router.routes
    guard = route_guard(route)  # type: ignore[arg-type]
    assert guard is not None and guard.serve is _work
    assert guard.action is Action.message_read_metadata
