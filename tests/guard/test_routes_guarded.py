"""Deny by default at registration: every route of the app is either guarded by the enforcement
point or explicitly public, and an unguarded route cannot be registered at all."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from gateway.app import ROUTERS, create_app
from gateway.guard.routing import (
    FRAMEWORK_PATHS,
    POLICY_ACTION_KEY,
    PUBLIC_KEY,
    GuardedRouter,
    UnguardedRoute,
    assert_all_routes_guarded,
    route_guard,
)
from gateway.kit.app_routes import all_routes
from gateway.ops import PUBLIC_PATHS
from gateway.settings import Settings

# Reviewed list: the only routes reachable without a policy decision, and why.
EXPECTED_PUBLIC = {
    "/healthz", "/readyz", "/metrics",
    "/connect/{token}",  # the pre-consent page: the single-use link secret is the credential
    "/oauth/callback",   # Google's redirect: the single-use state is the credential
    "/v1/push/gmail",    # Pub/Sub push: the Google-signed OIDC token is the credential
    "/session/{token}",  # a page session's one-time link: its single-use secret is the credential
    "/pages/static/{name}",  # the pages' stylesheet and scripts, no data
}


@pytest.mark.clause("lu.user_facing", "lu.derived")
def test_every_route_is_guarded_or_explicitly_public(settings: Settings) -> None:
    app = create_app(settings)
    guarded, public = [], []
    for route in all_routes(app):
        if not isinstance(route, APIRoute):
            assert route.path in FRAMEWORK_PATHS
            continue
        guard = route_guard(route)
        extra = route.openapi_extra or {}
        if guard is not None:
            assert extra[POLICY_ACTION_KEY] == guard.action.value
            guarded.append(route.path)
        else:
            assert extra.get(PUBLIC_KEY), f"{route.path} has neither guard nor public reason"
            public.append(route.path)
    assert set(public) == EXPECTED_PUBLIC == set(PUBLIC_PATHS)
    assert guarded, "the app exposes data routes; they must all be guarded"
    assert sum(len(all_routes(r.router)) for r in ROUTERS) == len(guarded) + len(public)


def test_router_refuses_a_route_without_policy_action() -> None:
    router = GuardedRouter()
    with pytest.raises(UnguardedRoute):
        router.add("GET", "/v1/secret", lambda: {"mail": "everything"})
    with pytest.raises(UnguardedRoute):
        @router.get("/v1/secret2")
        def _handler() -> dict[str, str]:
            return {}


def test_app_refuses_a_route_added_behind_the_routers_back() -> None:
    app = FastAPI()

    @app.get("/v1/leak")
    def leak() -> dict[str, str]:
        return {}

    with pytest.raises(UnguardedRoute, match="/v1/leak"):
        assert_all_routes_guarded(app, PUBLIC_PATHS)


def test_public_route_must_be_on_the_reviewed_list() -> None:
    router = GuardedRouter()
    router.add("GET", "/v1/open", lambda: {}, public="convenience")
    app = FastAPI()
    app.include_router(router.router)
    with pytest.raises(UnguardedRoute, match="/v1/open"):
        assert_all_routes_guarded(app, PUBLIC_PATHS)
