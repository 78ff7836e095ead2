"""Deny by default at registration: a route either names its policy action or is declared public
with a reason. `GuardedRouter` refuses anything else, injects the enforcement `Guard` into every
guarded route, and `assert_all_routes_guarded` lets the app refuse to start if a route slipped in
some other way."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller, CallerDep, PurposeDep, SessionDep
from gateway.kit.app_routes import all_routes
from gateway.kit.db import call_and_commit
from gateway.kit.errors import NotFound
from gateway.policy.enforcement import (
    Access,
    AccessRequest,
    Enforcer,
    Resolved,
    Resource,
)
from gateway.policy.refusals import POLICY_ACTION_KEY as POLICY_ACTION_KEY
from gateway.policy.refusals import log_refusal
from gateway.policy.terminal import terminal_of
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of

ResourceResolver = Callable[[Session, Caller, Request], Resource | Resolved]
# A route's own work run by its Guard right after an allow (see `Guard`): (request, the
# request's session, the Access) -> what the endpoint returns.
Serve = Callable[[Request, Session, Access], Any]
PUBLIC_KEY = "x-public"


class UnguardedRoute(Exception):
    """A route without a policy action that is not declared public."""


def tenant_resource(resource_type: str) -> ResourceResolver:
    """The resource is the caller's own tenant (listing, creating within it)."""

    def resolve(_session: Session, caller: Caller, _request: Request) -> Resource:
        return Resource(type=resource_type, tenant=str(caller.tenant_id))

    return resolve


class Guard:
    """The dependency every guarded route runs first: authenticate, resolve, decide, log.
    A resolver's 404 (an id the caller cannot see) is logged as a deny before it is answered.

    With `serve` (single-object reads), the route's work runs here too, after the allow and in
    the same thread-pool trip, followed by the commit of the request's transaction; the
    endpoint, `async`, only returns `served(request)`. A guarded read then costs one trip
    through the thread pool instead of two (one for this sync dependency, one for the
    endpoint's work): under load each trip costs ~0.3-0.5 ms of CPU in GIL hand-offs
    (docs/mail-api.md#performance). Nothing changes in the order: decide and log, then read,
    then commit; an error in `serve` fails the request and rolls the transaction back."""

    def __init__(self, action: Action, resolver: ResourceResolver,
                 serve: Serve | None = None) -> None:
        self.action = action
        self.resolver = resolver
        self.serve = serve

    def __call__(self, request: Request, caller: CallerDep, purpose: PurposeDep,
                 session: SessionDep) -> Access:
        return self.decide(request, caller, purpose, session)

    def decide(self, request: Request, caller: Caller, purpose: str,
               session: Session) -> Access:
        """Resolve, decide, log (and serve): the same for an API key's caller and a page
        session's (gateway/pages/kit.py's `PageGuard`)."""
        actor = caller.actor()
        try:
            found = self.resolver(session, caller, request)
        except NotFound as exc:  # an id the caller cannot see: refused, and logged as such
            session.rollback()  # the request fails; its transaction must not block the entry's
            log_refusal(request, exc, enforcer=runtime_of(request).enforcer, actor=actor,
                        purpose=purpose, action=self.action.value)
            raise
        resolved = found if isinstance(found, Resolved) else Resolved(found)
        enforcer: Enforcer = runtime_of(request).enforcer
        access = enforcer.authorize(session, AccessRequest(
            actor=actor, purpose=purpose, action=self.action.value, resource=resolved.resource,
            terminal=terminal_of(request), grant=resolved.grant,
            justification=resolved.justification, aggregate=resolved.aggregate,
            transfer=resolved.transfer))
        request.state.access = access
        if self.serve is not None:
            request.state.served = call_and_commit(session, self.serve, request, session,
                                                   access)
        return access

    def __repr__(self) -> str:
        return f"Guard({self.action.value})"


def served(request: Request) -> Any:
    """What the route's Guard served (`Guard(serve=...)`); refuses if no decision was made."""
    if not isinstance(getattr(request.state, "access", None), Access):
        raise UnguardedRoute("this handler ran without a policy decision")
    return request.state.served


async def current_access(request: Request) -> Access:
    # async: it only reads request.state, and FastAPI runs every sync dependency on its own
    # trip through the thread pool (two event-loop wake-ups per trip, on every guarded request).
    access = getattr(request.state, "access", None)
    if not isinstance(access, Access):
        raise UnguardedRoute("this handler ran without a policy decision")
    return access


AccessDep = Annotated[Access, Depends(current_access)]


class GuardedRouter:
    """Route registration that cannot forget the policy check."""

    def __init__(self, *, prefix: str = "", tags: Sequence[str] = ()) -> None:
        self.router = APIRouter(prefix=prefix, tags=list(tags))

    def add(self, method: str, path: str, endpoint: Callable[..., Any], *,
            action: Action | None = None, resource: ResourceResolver | None = None,
            public: str | None = None, serve: Serve | None = None, **kwargs: Any) -> None:
        """`serve`: the route's work, run by its Guard after the allow (see `Guard`)."""
        if action is None and public is None:
            raise UnguardedRoute(f"{method} {path}: declare a policy action or public='why'")
        if action is not None and public is not None:
            raise UnguardedRoute(f"{method} {path}: a route is guarded or public, not both")
        extra = dict(kwargs.pop("openapi_extra", None) or {})
        dependencies = list(kwargs.pop("dependencies", None) or [])
        if action is not None:
            guard = Guard(action, resource or tenant_resource("tenant"), serve)
            dependencies.insert(0, Depends(guard))
            extra[POLICY_ACTION_KEY] = action.value
        else:
            if serve is not None:
                raise UnguardedRoute(f"{method} {path}: `serve` needs a policy action")
            extra[PUBLIC_KEY] = public
        self.router.add_api_route(path, endpoint, methods=[method], dependencies=dependencies,
                                  openapi_extra=extra, **kwargs)

    def include(self, part: GuardedRouter) -> None:
        """Serve `part`'s routes here too (a package's router gathers its modules' routers);
        they were guarded when `part` registered them."""
        self.router.include_router(part.router)

    def _decorator(self, method: str, path: str, **kwargs: Any
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            self.add(method, path, endpoint, **kwargs)
            return endpoint

        return register

    def get(self, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._decorator("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._decorator("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._decorator("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._decorator("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any
               ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._decorator("DELETE", path, **kwargs)


def route_guard(route: APIRoute) -> Guard | None:
    """The Guard actually wired into a route's dependency tree (not just its metadata)."""
    for dep in route.dependant.dependencies:
        if isinstance(dep.call, Guard):
            return dep.call
    return None


# The schema and the documentation pages (gateway/kit/api_docs.py) are plain Starlette routes,
# not APIRoutes; they serve no mailbox data.
FRAMEWORK_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
                             "/docs/assets"})


def assert_all_routes_guarded(app: FastAPI, public_paths: Iterable[str]) -> None:
    allowed_public = set(public_paths)
    problems: list[str] = []
    for route in all_routes(app):
        if not isinstance(route, APIRoute):
            path = getattr(route, "path", "?")
            if path not in FRAMEWORK_PATHS:
                problems.append(f"{path}: not an APIRoute, cannot be checked")
            continue
        extra = route.openapi_extra or {}
        if route_guard(route) is not None and POLICY_ACTION_KEY in extra:
            continue
        if extra.get(PUBLIC_KEY) and route.path in allowed_public:
            continue
        problems.append(f"{sorted(route.methods or ())} {route.path}: no policy guard")
    if problems:
        raise UnguardedRoute("unguarded routes: " + "; ".join(problems))
