"""Denials the user can fix by reconnecting Gmail get their own problem code and a way out.

The policy refuses a request whose mailbox lacks the scope (`scope_not_granted`) or whose tokens
are dead (`mailbox_reauth_required`); the generic problem would say `policy_denied`. Here such a
denial becomes a 403 with `code` set to that reason, the features to ask for, and a
`reconnect_url`: POST it (with a `return_url`) to get a consent link for the mailbox's user.
Everything else renders exactly as `gateway.kit.problem` does.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import inspect

from gateway.guard.routing import POLICY_ACTION_KEY
from gateway.kit.errors import PolicyDenied
from gateway.kit.problem import problem_response
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.scopes import ACTION_FEATURES, FEATURES, features_granted
from gateway.runtime import runtime_of
from gateway.settings import Settings

SCOPE_NOT_GRANTED = "scope_not_granted"
REAUTH_REQUIRED = "mailbox_reauth_required"
_FIXABLE = frozenset({SCOPE_NOT_GRANTED, REAUTH_REQUIRED})


def _route_action(request: Request) -> str | None:
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    action = extra.get(POLICY_ACTION_KEY)
    return action if isinstance(action, str) else None


def reconnect_url(settings: Settings, mailbox_id: uuid.UUID) -> str:
    return f"{settings.public_base_url.rstrip('/')}/v1/mailboxes/{mailbox_id}/reconnect"


def _denied_mailbox(request: Request) -> tuple[uuid.UUID, list[str], str | None] | None:
    """The mailbox the resolver found before the denial (id, granted scopes, state reason),
    re-read: the request's session has been rolled back and closed by now."""
    resolved = getattr(request.state, "mailbox", None)
    if not isinstance(resolved, Mailbox):
        return None
    identity = inspect(resolved).identity
    if not identity:
        return None
    with runtime_of(request).database.transaction() as session:
        mailbox = session.get(Mailbox, identity[0])
        if mailbox is None:
            return None
        return mailbox.id, list(mailbox.granted_scopes or ()), mailbox.state_reason


async def _policy_denied(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PolicyDenied)
    reasons = set(exc.extra.get("reasons") or ())
    extra = dict(exc.extra)
    code, title, detail = exc.code, exc.title, exc.detail
    found = _denied_mailbox(request) if reasons and reasons <= _FIXABLE else None
    if found is not None:
        mailbox_id, granted, state_reason = found
        settings: Settings = runtime_of(request).settings
        extra["reconnect_url"] = reconnect_url(settings, mailbox_id)
        if REAUTH_REQUIRED in reasons:
            code, title = REAUTH_REQUIRED, "The mailbox must be reconnected"
            detail = ("Google no longer accepts this mailbox's authorization; its user must "
                      "reconnect Gmail (POST reconnect_url for a consent link).")
            extra["state_reason"] = state_reason
        else:
            feature = ACTION_FEATURES.get(_route_action(request) or "")
            code, title = SCOPE_NOT_GRANTED, "Gmail permission not granted"
            wanted = f" ({FEATURES[feature].title.lower()})" if feature else ""
            detail = (f"The mailbox's user did not grant the Gmail permission this needs{wanted}; "
                      "the features they granted keep working. POST reconnect_url for a "
                      "consent link that asks for it.")
            extra["missing_features"] = [feature.value] if feature else []
            extra["features_enabled"] = [f.value for f in features_granted(granted)]
    return problem_response(request, status=exc.status, code=code, title=title, detail=detail,
                            extra=extra, headers=exc.headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Register after gateway.kit.problem's handlers (a more specific class wins)."""
    app.add_exception_handler(PolicyDenied, _policy_denied)
