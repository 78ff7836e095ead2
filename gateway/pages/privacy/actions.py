"""The privacy center's forms (POST, CSRF-checked by `PageRouter` before the decision). Each is
decided as the API route doing the same thing and calls that route's service, then sends the
browser back to a page (303) that says what happened:

- approve / refuse a request: consent.request.decide (consent_management), as
  POST .../consent/requests/{id}/decision, `consent.service.decide_request`;
- revoke a grant: consent.grant.revoke (consent_management), as DELETE .../consent/grants/{id},
  `consent.service.revoke_grant`;
- reconnect: oauth.connect (user_facing), as POST .../reconnect, `oauth.router.reconnect_link`;
- sync now: mail.mailbox.read (user_facing), as POST .../sync, `sync.router.request_sync`;
- restrict / lift: data.restrict (user_rights), as PUT / DELETE .../restriction,
  `mailboxes.restriction`;
- disconnect / delete: oauth.disconnect (user_rights), as DELETE .../connection with
  delete_data false / true, `oauth.router.disconnect_mailbox`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import Form, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from gateway.accounts.deps import SessionDep
from gateway.consent import service as consent
from gateway.consent.resolvers import own_grant, own_request
from gateway.consent.schemas import RequestDecision
from gateway.guard.routing import AccessDep
from gateway.kit.errors import ValidationFailed
from gateway.mailboxes import restriction
from gateway.oauth.router import disconnect_mailbox, reconnect_link
from gateway.oauth.schemas import ReconnectRequest
from gateway.pages.privacy.resolvers import own_mailbox
from gateway.pages.privacy.routes import BASE, mailbox_of, router
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of
from gateway.settings import Settings
from gateway.sync.router import request_sync


def back(request: Request, page: str, done: str) -> RedirectResponse:
    """303 to one of the mailbox's pages, saying what was done."""
    suffix = f"/{page}" if page else ""
    return RedirectResponse(f"/me/mailboxes/{mailbox_of(request).id}{suffix}?done={done}",
                            status_code=303)


def _settings(request: Request) -> Settings:
    settings: Settings = runtime_of(request).settings
    return settings


def decide(mailbox_id: str, request_id: str, request: Request, session: SessionDep,
           access: AccessDep, decision: Annotated[Literal["approve", "refuse"], Form()],
           minutes: Annotated[int | None, Form(ge=1, le=7 * 24 * 60)] = None
           ) -> RedirectResponse:
    """`minutes`: how long an approval lasts (default: as requested; the service caps it at
    the configured maximum, as for the API)."""
    approve = decision == "approve"
    consent.decide_request(session, mailbox_of(request), request_id,
                           RequestDecision(approve=approve,
                                           expires_in_minutes=minutes if approve else None),
                           max_hours=_settings(request).consent_grant_max_hours)
    return back(request, "access", "approved" if approve else "refused")


def revoke(mailbox_id: str, grant_id: str, request: Request, session: SessionDep,
           access: AccessDep) -> RedirectResponse:
    consent.revoke_grant(session, mailbox_of(request), grant_id,
                         uuid.UUID(access.request.actor.id))
    return back(request, "access", "revoked")


def reconnect(mailbox_id: str, request: Request, session: SessionDep, access: AccessDep,
              feature: Annotated[list[str] | None, Form()] = None) -> RedirectResponse:
    """A fresh consent link (the gateway's consent page, then Google's), with the features the
    owner ticked added to the mailbox's current ones."""
    try:
        body = ReconnectRequest.model_validate({"features": list(feature or [])})
    except ValidationError:
        raise ValidationFailed("choose features from the list", code="feature_unknown") from None
    link = reconnect_link(request, session, access, mailbox_of(request), body)
    return RedirectResponse(link.url, status_code=303)


def sync_now(mailbox_id: str, request: Request, session: SessionDep,
             access: AccessDep) -> RedirectResponse:
    request_sync(mailbox_id, request, session, access)
    return back(request, "", "sync_requested")


def restrict(mailbox_id: str, request: Request, session: SessionDep,
             access: AccessDep) -> RedirectResponse:
    restriction.restrict(session, mailbox_of(request))
    return back(request, "data", "restricted")


def lift(mailbox_id: str, request: Request, session: SessionDep,
         access: AccessDep) -> RedirectResponse:
    restriction.lift(session, mailbox_of(request))
    return back(request, "data", "lifted")


def disconnect(mailbox_id: str, request: Request, session: SessionDep,
               access: AccessDep) -> RedirectResponse:
    disconnect_mailbox(request, session, mailbox_of(request), delete_data=False)
    return back(request, "data", "disconnected")


def delete(mailbox_id: str, request: Request, session: SessionDep,
           access: AccessDep) -> RedirectResponse:
    disconnect_mailbox(request, session, mailbox_of(request), delete_data=True)
    return back(request, "data", "deleted")


router.add("POST", f"{BASE}/requests/{{request_id}}/decision", decide,
           action=Action.consent_request_decide, resource=own_request,
           purpose="consent_management")
router.add("POST", f"{BASE}/grants/{{grant_id}}/revoke", revoke,
           action=Action.consent_grant_revoke, resource=own_grant, purpose="consent_management")
router.add("POST", f"{BASE}/reconnect", reconnect, action=Action.oauth_connect,
           resource=own_mailbox(), purpose="user_facing")
router.add("POST", f"{BASE}/sync", sync_now, action=Action.mailbox_read,
           resource=own_mailbox(), purpose="user_facing")
router.add("POST", f"{BASE}/restriction", restrict, action=Action.data_restrict,
           resource=own_mailbox(), purpose="user_rights")
router.add("POST", f"{BASE}/restriction/lift", lift, action=Action.data_restrict,
           resource=own_mailbox(), purpose="user_rights")
router.add("POST", f"{BASE}/disconnect", disconnect, action=Action.oauth_disconnect,
           resource=own_mailbox(), purpose="user_rights")
router.add("POST", f"{BASE}/delete", delete, action=Action.oauth_disconnect,
           resource=own_mailbox(), purpose="user_rights")
