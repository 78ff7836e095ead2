"""`POST /v1/push/gmail`: the endpoint Google's Pub/Sub push subscription calls.

Public in the API-key sense (Pub/Sub has no API key; reviewed in gateway.ops.PUBLIC_PATHS) but
authenticated: the OIDC token must verify (gateway.push.oidc) before the body is parsed, and a
bad or missing token is a 401/403 problem with nothing enqueued. A valid notification answers
204 whether or not the address is a watched mailbox (an error would make Pub/Sub redeliver it
for days); a malformed one is a 400 problem. Pub/Sub redelivers anything non-2xx, which is what
a 503 (operation log or database unavailable: nothing was recorded) relies on.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request, Response

from gateway.accounts.deps import SessionDep
from gateway.crypto import CryptoService
from gateway.guard.routing import GuardedRouter
from gateway.kit.errors import PayloadTooLarge
from gateway.policy.terminal import terminal_of
from gateway.push.envelope import MAX_BODY_BYTES, parse_envelope
from gateway.push.lookup import WatchLookup
from gateway.push.oidc import PushIdentity, PushTokenVerifier
from gateway.push.service import record_push
from gateway.runtime import runtime_of
from gateway.settings.google import PUSH_PATH

router = GuardedRouter(tags=["push"])


def push_verifier(app: FastAPI) -> PushTokenVerifier:
    """The app's one verifier (it caches Google's certificates), built with its runtime."""
    return runtime_of(app).service(PushTokenVerifier)


def watch_lookup(app: FastAPI) -> WatchLookup:
    """One lookup (and its memory of recent matches) per app."""
    return runtime_of(app).service(WatchLookup)


async def bounded_body(request: Request) -> bytes:
    """The body, read no further than a Gmail notification can be long."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge("the push body is too large for a Gmail notification")
        chunks.append(chunk)
    return b"".join(chunks)


def verified_sender(request: Request) -> PushIdentity:
    """Runs first: nothing else happens for a request without a valid Pub/Sub token."""
    return push_verifier(request.app).verify(request.headers.get("authorization"))


def receive_gmail_push(request: Request,
                       _sender: Annotated[PushIdentity, Depends(verified_sender)],
                       body: Annotated[bytes, Depends(bounded_body)],
                       session: SessionDep) -> Response:
    notification = parse_envelope(body)
    crypto: CryptoService = runtime_of(request).crypto
    record_push(session, crypto, notification,
                request_id=getattr(request.state, "request_id", "-"),
                protocol=terminal_of(request, channel="pubsub-push").protocol,
                oplog=runtime_of(request).enforcer.oplog, lookup=watch_lookup(request.app))
    return Response(status_code=204)


ENVELOPE_SCHEMA = {
    "type": "object", "required": ["message"],
    "properties": {
        "message": {"type": "object", "required": ["data"], "properties": {
            "data": {"type": "string", "description": "base64 of the Gmail notification JSON "
                     "{\"emailAddress\": ..., \"historyId\": ...}"},
            "messageId": {"type": "string"}, "publishTime": {"type": "string"},
            "attributes": {"type": "object"}}},
        "subscription": {"type": "string"}}}

router.add("POST", PUSH_PATH, receive_gmail_push, status_code=204,
           response_class=Response, summary="Gmail push notification (Pub/Sub push)",
           description="Called by Google's Pub/Sub push subscription with its OIDC token in "
                       "`Authorization: Bearer`; not for API clients. See docs/push.md.",
           openapi_extra={"requestBody": {"required": True, "content": {
               "application/json": {"schema": ENVELOPE_SCHEMA}}}},
           public="Google's Pub/Sub push subscription has no API key: it is authenticated by "
                  "its Google-signed OIDC token (signature, audience, issuer, service account), "
                  "checked before anything is read or written")
