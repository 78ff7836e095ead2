"""What every page route is built with (docs/pages.md).

`PageRouter` registers a page the way `GuardedRouter` registers an API route: every route names
its policy `action=` and `resolver=` (the routes test proves it guarded), plus the fixed
`purpose=` it is decided under, since a browser sends no Gateway-Purpose header. The caller is
the session cookie's principal (gateway/pages/auth.py); the decision is made by the same `Guard`
code, `Enforcer` and operation log as the API's: one enforcement point. Unsafe methods check
the CSRF token before the decision.

`render(request, "privacy/home.html", context)` renders a template of gateway/pages/templates/
with autoescaping, the persona's navigation and `csrf_input()` for forms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller, SessionDep
from gateway.guard.routing import (
    POLICY_ACTION_KEY,
    Guard,
    GuardedRouter,
    ResourceResolver,
    Serve,
    UnguardedRoute,
)
from gateway.pages.auth import CSRF_FIELD, SAFE_METHODS, PageCallerDep, verify_csrf
from gateway.policy.enforcement import Access, Resource
from gateway.policy.vocabulary import Action
from gateway.sessions.personas import PERSONAS

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/pages/static"

# Page route purposes: one purpose, or one per actor kind (a route all personas use, e.g. logout).
Purpose = str | Mapping[str, str]

# Each persona's navigation: (label, path). The persona's package appends its own pages.
NAV: dict[str, list[tuple[str, str]]] = {
    persona.name: [("Home", persona.home)] for persona in PERSONAS.values()}


def own_resource(resource_type: str) -> ResourceResolver:
    """The resource is the caller's own: their tenant, and themselves as owner (an end user's
    pages act on their own things only)."""

    def resolve(_session: Session, caller: Caller, _request: Request) -> Resource:
        return Resource(type=resource_type, tenant=str(caller.tenant_id),
                        owner=str(caller.principal_id))

    return resolve


class PageGuard(Guard):
    """`Guard` for a page: the session cookie's caller and the route's fixed purpose."""

    def __init__(self, action: Action, resolver: ResourceResolver, purpose: Purpose,
                 serve: Serve | None = None) -> None:
        super().__init__(action, resolver, serve)
        self.purpose = purpose

    def purpose_for(self, caller: Caller) -> str:
        if isinstance(self.purpose, str):
            return self.purpose
        return self.purpose.get(caller.kind, "")

    def __call__(self, request: Request, caller: PageCallerDep,  # type: ignore[override]
                 session: SessionDep) -> Access:
        purpose = self.purpose_for(caller)
        request.state.purpose = purpose
        return self.decide(request, caller, purpose, session)

    def __repr__(self) -> str:
        return f"PageGuard({self.action.value})"


class PageRouter(GuardedRouter):
    """Page registration that cannot forget the policy check, the purpose or the CSRF check.
    Page routes are not part of the API's document (`include_in_schema=False`)."""

    def add(self, method: str, path: str, endpoint: Callable[..., Any], *,
            action: Action | None = None, resource: ResourceResolver | None = None,
            public: str | None = None, serve: Serve | None = None,
            purpose: Purpose | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("include_in_schema", False)
        kwargs.setdefault("response_class", HTMLResponse)
        if public is not None or action is None:
            super().add(method, path, endpoint, action=action, resource=resource,
                        public=public, serve=serve, **kwargs)
            return
        if not purpose:
            raise UnguardedRoute(f"{method} {path}: a page route states its purpose=")
        extra = dict(kwargs.pop("openapi_extra", None) or {})
        extra[POLICY_ACTION_KEY] = action.value
        dependencies = list(kwargs.pop("dependencies", None) or [])
        guard = PageGuard(action, resource or own_resource("page"), purpose, serve)
        checks = [Depends(guard)]
        if method.upper() not in SAFE_METHODS:
            checks.insert(0, Depends(verify_csrf))  # before the decision: a forgery is refused
        self.router.add_api_route(path, endpoint, methods=[method],
                                  dependencies=checks + dependencies, openapi_extra=extra,
                                  **kwargs)


@pass_context
def _csrf_input(context: Mapping[str, Any]) -> Markup:
    request: Request = context["request"]
    token = getattr(request.state, "csrf_token", "")
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(token))


def _static(name: str) -> str:
    return f"{STATIC_PATH}/{name}"


_environment = Environment(loader=FileSystemLoader(TEMPLATES_DIR),
                           autoescape=select_autoescape(default=True, default_for_string=True),
                           trim_blocks=True, lstrip_blocks=True)
_environment.globals.update(csrf_input=_csrf_input, static=_static)
templates = Jinja2Templates(env=_environment)


def page_context(request: Request) -> dict[str, Any]:
    """What base.html needs: the signed-in person and their persona's navigation."""
    caller: Caller | None = getattr(request.state, "caller", None)
    persona = PERSONAS.get(caller.kind) if caller is not None else None
    return {"caller": caller, "persona": persona,
            "person_name": getattr(request.state, "person_name", ""),
            "nav": NAV.get(persona.name, []) if persona is not None else [],
            "current_path": request.url.path,
            "csrf_field": CSRF_FIELD}


def render(request: Request, name: str, context: Mapping[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    """The template `name` (under gateway/pages/templates/) as an HTML response."""
    merged = {**page_context(request), **(context or {})}
    response: HTMLResponse = templates.TemplateResponse(request, name, merged,
                                                        status_code=status_code)
    return response
