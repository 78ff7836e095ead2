"""HTTP surface of the connection flow.

Guarded (API key, policy action): `POST /v1/connect`, `POST /v1/mailboxes/{id}/reconnect`,
`GET` and `DELETE /v1/mailboxes/{id}/connection`.
Public (a person's browser, no API key; reviewed in gateway.ops.PUBLIC_PATHS):
`GET /connect/{token}` (the consent page) and `GET /oauth/callback` (Google's redirect). The
callback is still decided and logged by the enforcement point, attributed to whoever asked for
the link (see service._authorize).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller, SessionDep
from gateway.crypto import CryptoService
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.kit.errors import GatewayError, ValidationFailed
from gateway.kit.strict import QueryFlag
from gateway.mailboxes import tokens
from gateway.mailboxes.models import Mailbox, OAuthToken
from gateway.mailboxes.resolvers import mailbox_resource
from gateway.mailboxes.scopes import Feature, features_granted
from gateway.oauth import result, service, states
from gateway.oauth.flow import GoogleOAuth
from gateway.oauth.pages import (
    PAGE_HEADERS,
    consent_page,
    error_page,
    html_response,
    result_page,
)
from gateway.oauth.schemas import (
    ConnectionOut,
    ConnectRequest,
    ConsentLinkOut,
    DisconnectOut,
    ReconnectRequest,
    TokenStatus,
)
from gateway.policy.enforcement import Access, Resource
from gateway.policy.terminal import terminal_of
from gateway.policy.vocabulary import Action, ActorKind, MailboxState
from gateway.runtime import runtime_of
from gateway.settings import Settings

router = GuardedRouter(tags=["connection"])

CONSENT_PAGE_PATH = "/connect/{token}"
CALLBACK_PATH = "/oauth/callback"


def google_oauth(app: FastAPI) -> GoogleOAuth:
    """The app's one client (it keeps an HTTP session), built with its runtime."""
    return runtime_of(app).service(GoogleOAuth)


def _settings(request: Request) -> Settings:
    settings: Settings = runtime_of(request).settings
    return settings


def _crypto(request: Request) -> CryptoService:
    crypto: CryptoService = runtime_of(request).crypto
    return crypto


def absolute(settings: Settings, path: str | None) -> str | None:
    return settings.public_base_url.rstrip("/") + path if path else None


def connect_resource(_session: Session, caller: Caller, _request: Request) -> Resource:
    """A new connection within the caller's tenant; an end user can only connect their own."""
    owner = str(caller.principal_id) if caller.kind == ActorKind.end_user else None
    return Resource(type="oauth_connection", tenant=str(caller.tenant_id), owner=owner)


def _initiator(access: AccessDep) -> states.Initiator:
    actor = access.request.actor
    return states.Initiator(kind=actor.kind, principal_id=uuid.UUID(actor.id),
                             tenant_id=uuid.UUID(actor.tenant), connection_id=actor.connection_id,
                             purpose=access.request.purpose)


def _link_out(link: states.ConsentLink) -> ConsentLinkOut:
    return ConsentLinkOut(consent_url=link.url, expires_at=link.expires_at, features=link.features)


def connect(body: ConnectRequest, request: Request, session: SessionDep,
            access: AccessDep) -> ConsentLinkOut:
    initiator = _initiator(access)
    if initiator.kind == ActorKind.end_user:
        if body.end_user_id not in (None, initiator.principal_id):
            raise GatewayError("an end user can only connect their own Gmail", status=403,
                               code="not_own_account", title="Not your account")
        end_user_id = initiator.principal_id
    elif body.end_user_id is None:
        raise ValidationFailed("name the end user whose Gmail is connected (end_user_id)",
                               code="end_user_required")
    else:
        end_user_id = body.end_user_id
    link = states.start_connect(session, _settings(request), initiator, end_user_id=end_user_id,
                                 features=list(body.features), return_url=body.return_url)
    return _link_out(link)


def reconnect_link(request: Request, session: Session, access: Access, mailbox: Mailbox,
                   body: ReconnectRequest) -> states.ConsentLink:
    """A fresh consent link for the mailbox's owner (the API's reconnect, and the privacy
    center's reconnect button): Google's consent screen again unless the tokens still work."""
    shredded = mailbox.data_deleted_at is not None
    live = (mailbox.state == MailboxState.active and not shredded
            and tokens.has_usable_token(session, mailbox))
    return states.start_connect(
        session, _settings(request), _initiator(access), end_user_id=mailbox.owner_principal_id,
        features=states.reconnect_features(mailbox, list(body.features)),
        return_url=body.return_url, mailbox=None if shredded else mailbox,
        force_consent=not live)


def reconnect(mailbox_id: str, body: ReconnectRequest, request: Request, session: SessionDep,
              access: AccessDep) -> ConsentLinkOut:
    return _link_out(reconnect_link(request, session, access, request.state.mailbox, body))


def connection_status(mailbox_id: str, request: Request, session: SessionDep,
                      access: AccessDep) -> ConnectionOut:
    mailbox: Mailbox = request.state.mailbox
    token = session.get(OAuthToken, mailbox.id)
    enabled = features_granted(mailbox.granted_scopes or ())
    return ConnectionOut(
        mailbox_id=mailbox.id, state=mailbox.state, state_reason=mailbox.state_reason,
        granted_scopes=list(mailbox.granted_scopes or ()), features_enabled=enabled,
        features_disabled=[f for f in Feature if f not in enabled],
        connected_at=mailbox.connected_at, sync_requested_at=mailbox.sync_requested_at,
        token=TokenStatus(refreshed_at=token.refreshed_at,
                          access_expires_at=token.access_expires_at,
                          invalid_at=token.invalid_at, invalid_reason=token.invalid_reason)
        if token is not None else None,
        reconnect_url=absolute(_settings(request), mailbox.reconnect_url))


def disconnect(mailbox_id: str, request: Request, session: SessionDep, access: AccessDep,
               delete_data: Annotated[QueryFlag, Query(description="Delete the synced data and "
                                                  "crypto-shred the mailbox")] = True
               ) -> DisconnectOut:
    result = disconnect_mailbox(request, session, request.state.mailbox,
                                delete_data=delete_data)
    return DisconnectOut(mailbox_id=result.mailbox_id, state=result.state,
                         revoked_at_google=result.revoked_at_google,
                         tokens_deleted=result.tokens_deleted, data_deleted=result.data_deleted)


def disconnect_mailbox(request: Request, session: Session, mailbox: Mailbox, *,
                       delete_data: bool) -> service.DisconnectResult:
    """Stop Google's push, then `service.disconnect` (the API's disconnect and the privacy
    center's disconnect and delete)."""
    _stop_watch(request, session, mailbox)
    return service.disconnect(session, _crypto(request), google_oauth(request.app), mailbox,
                              delete_data=delete_data)


def _stop_watch(request: Request, session: Session, mailbox: Mailbox) -> None:
    """Tell Google to stop pushing for this mailbox while its token still works (a failure is
    logged and the disconnect goes on; the watch would lapse within 7 days anyway)."""
    from gateway.push.models import MailboxWatch
    from gateway.push.watches import WatchKeeper

    if session.get(MailboxWatch, mailbox.id) is None:
        return
    runtime = runtime_of(request)
    WatchKeeper(runtime.database, runtime.crypto, runtime.settings,
                runtime.enforcer).stop(session, mailbox)


# -- the browser's side ---------------------------------------------------------------------------


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _refused(request: Request, exc: GatewayError) -> Response:
    if _wants_html(request):
        return html_response(error_page("This link cannot be used", exc.detail, exc.code),
                             exc.status)
    raise exc


def consent(token: str, request: Request, session: SessionDep) -> Response:
    try:
        data = service.consent_page_data(
            session, _settings(request), _crypto(request), google_oauth(request.app), token,
            enforcer=runtime_of(request).enforcer,
            terminal=terminal_of(request, channel="oauth-consent-page"))
    except states.StateRefused as exc:
        return html_response(error_page("This link cannot be used", exc.detail, exc.code),
                             exc.status)
    return html_response(consent_page(
        tenant_name=data.tenant_name, account_label=data.account_label, features=data.features,
        google_url=data.google_url, cancel_url=data.cancel_url, expires_at=data.expires_at,
        privacy_policy_url=_settings(request).privacy_policy_url))


def callback(request: Request, session: SessionDep,
             state: Annotated[str | None, Query(max_length=256)] = None,
             code: Annotated[str | None, Query(max_length=2048)] = None,
             error: Annotated[str | None, Query(max_length=256)] = None) -> Response:
    if not state:
        return _refused(request, states.StateRefused("Google's answer has no state; start "
                                                      "again from the CRM"))
    try:
        found = states.consume_state(runtime_of(request).database, session, state)
    except states.StateRefused as exc:
        return _refused(request, exc)
    ctx = service.CallbackContext(
        database=runtime_of(request).database, crypto=_crypto(request),
        google=google_oauth(request.app), enforcer=runtime_of(request).enforcer,
        terminal=terminal_of(request, channel="oauth-callback"))
    outcome = service.complete_callback(session, ctx, found, state, code=code, error=error)
    if outcome.return_url != states.OWN_RESULT_PAGE:
        return RedirectResponse(outcome.redirect_url(), status_code=302,
                                headers=dict(PAGE_HEADERS))
    data = result.result_page_data(session, _settings(request), _crypto(request), found, outcome)
    return html_response(result_page(data, result.reason_text(data.reason)))


router.add("POST", "/v1/connect", connect, action=Action.oauth_connect,
           resource=connect_resource, response_model=ConsentLinkOut, status_code=201)
router.add("POST", "/v1/mailboxes/{mailbox_id}/reconnect", reconnect,
           action=Action.oauth_connect, resource=mailbox_resource(),
           response_model=ConsentLinkOut, status_code=201)
router.add("GET", "/v1/mailboxes/{mailbox_id}/connection", connection_status,
           action=Action.mailbox_read, resource=mailbox_resource(), response_model=ConnectionOut)
router.add("DELETE", "/v1/mailboxes/{mailbox_id}/connection", disconnect,
           action=Action.oauth_disconnect, resource=mailbox_resource(),
           response_model=DisconnectOut)
router.add("GET", CONSENT_PAGE_PATH, consent, include_in_schema=False,
           public="the consent page a person opens from the CRM before Google's; the "
                  "single-use link secret in the path is the credential")
router.add("GET", CALLBACK_PATH, callback, include_in_schema=False,
           public="Google redirects the user's browser here; the single-use state is the "
                  "credential and the outcome is decided and logged by the enforcement point")
