"""`?view=metadata|content` on one URL, with a different policy action per view.

Metadata (ids, dates, labels, sizes, subject, addresses) and content (bodies, headers,
attachments) are different policy actions, because the policy treats them differently (a human
operator may see redacted metadata without the owner's consent, never content). The view is read
*before* the decision, so the enforcement point decides the action actually served: `ViewGuard`
is a `Guard` (the app's route check and tests/guard/test_routes_guarded.py recognise it) whose
action is chosen from the `view` query parameter; an unknown view is a 422 before any decision.
Routes registered with `add_viewed` must declare `view: ViewQuery` themselves (for the OpenAPI).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from gateway.accounts.deps import CallerDep, PurposeDep, SessionDep
from gateway.guard.routing import POLICY_ACTION_KEY, Guard, GuardedRouter, ResourceResolver, Serve
from gateway.kit.errors import ValidationFailed
from gateway.policy.enforcement import Access
from gateway.policy.vocabulary import Action

POLICY_ACTIONS_BY_VIEW_KEY = "x-policy-actions-by-view"


class View(StrEnum):
    metadata = "metadata"
    content = "content"


ViewQuery = Annotated[View, Query(
    description="`metadata`: ids, dates, labels, sizes, subject, addresses, snippet (policy "
                "action `*.read_metadata`). `content`: also headers, text and HTML bodies and "
                "attachment list (policy action `*.read_content`).")]


class ViewGuard(Guard):
    """A Guard whose policy action depends on the requested view."""

    def __init__(self, actions: Mapping[View, Action], resolver: ResourceResolver,
                 serve: Serve | None = None) -> None:
        super().__init__(actions[View.metadata], resolver, serve)
        self.actions = dict(actions)
        self.views = [v.value for v in self.actions]

    def __call__(self, request: Request, caller: CallerDep, purpose: PurposeDep,
                 session: SessionDep) -> Access:
        # Read by hand, not as a FastAPI parameter: a dependency's validation error does not
        # stop FastAPI from running the route's other dependencies, and nothing may run
        # without this decision. The route declares `view` too (OpenAPI, same validation).
        raw = request.query_params.get("view", View.metadata.value)
        if raw not in self.views:
            message = "view must be one of: " + ", ".join(self.views)
            raise ValidationFailed(message, extra={"errors": [
                {"location": ["query", "view"], "message": message, "type": "enum"}]})
        return Guard(self.actions[View(raw)], self.resolver, self.serve)(request, caller, purpose,
                                                                         session)

    def __repr__(self) -> str:
        return f"ViewGuard({', '.join(f'{k}={v.value}' for k, v in self.actions.items())})"


def view_of(access: Access) -> View:
    """Which view the enforcement point allowed (the action it decided)."""
    content = {Action.message_read_content.value, Action.thread_read_content.value}
    return View.content if access.request.action in content else View.metadata


def add_viewed(router: GuardedRouter, method: str, path: str, endpoint: Callable[..., Any], *,
               actions: Mapping[View, Action], resource: ResourceResolver,
               serve: Serve | None = None, **kwargs: Any) -> None:
    """Register a route guarded by a ViewGuard (GuardedRouter.add takes one fixed action);
    `serve` as for `GuardedRouter.add`."""
    guard = ViewGuard(actions, resource, serve)
    extra = dict(kwargs.pop("openapi_extra", None) or {})
    extra[POLICY_ACTION_KEY] = guard.action.value
    extra[POLICY_ACTIONS_BY_VIEW_KEY] = {k.value: v.value for k, v in guard.actions.items()}
    router.router.add_api_route(path, endpoint, methods=[method],
                                dependencies=[Depends(guard)], openapi_extra=extra, **kwargs)
