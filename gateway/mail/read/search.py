"""Search: Gmail's own query language, answered by Gmail for the ids, served from the store.

Gmail evaluates `q` (it has the full-text index; the store keeps text sealed and cannot search
it); the gateway then serves the matching messages it holds, in Gmail's order, as the
decision allows, and says how many of Gmail's ids are not synced yet. One `messages.list` call
(5 quota units) per page; Gmail's `nextPageToken` is passed back as `next_page_token`.

POST with a JSON body rather than GET: a query names people and subjects ("from:carol
subject:layoffs"), and URLs end up in access logs, proxies and browser history. Policy action
`mail.search` (for an operator: security or legal only, with a recorded justification)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select

from gateway.accounts.deps import SessionDep
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.mail.models import Message
from gateway.mail.read.rendering import render
from gateway.mail.read.schemas import SearchRequest, SearchResult
from gateway.mail.read.views import View
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.gmail_access import gmail_for
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import mailbox_resource
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of


def search(mailbox_id: str, body: SearchRequest, request: Request, session: SessionDep,
           access: AccessDep) -> dict[str, Any]:
    mailbox: Mailbox = request.state.mailbox
    runtime = runtime_of(request)
    client = gmail_for(session, mailbox, crypto=runtime.crypto, settings=runtime.settings,
                       database=runtime.database)
    params: dict[str, Any] = {"userId": "me", "q": body.q, "maxResults": body.limit,
                              "includeSpamTrash": body.include_spam_trash,
                              "fields": "messages(id),nextPageToken,resultSizeEstimate"}
    if body.page_token:
        params["pageToken"] = body.page_token
    answer = client.execute(client.users.messages().list(**params))
    ids = [str(m["id"]) for m in answer.get("messages") or () if m.get("id")]
    stored = {m.gmail_id: m for m in session.scalars(select(Message).where(
        Message.mailbox_id == mailbox.id, Message.gmail_id.in_(ids)))} if ids else {}
    store: MessageStore = runtime.service(MessageStore)
    missing = [i for i in ids if i not in stored]
    estimate = answer.get("resultSizeEstimate")
    return {"items": [render(store, session, access, stored[i], View.metadata)
                      for i in ids if i in stored],
            "matched": len(ids), "not_synced": len(missing), "not_synced_ids": missing,
            "next_page_token": answer.get("nextPageToken") or None,
            "result_size_estimate": int(estimate) if estimate is not None else None}


_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Denied by policy, or the mailbox must be reconnected "
                         "(`mailbox_reauth_required`) (problem+json)"},
    404: {"description": "No such mailbox for this caller (problem+json)"},
    422: {"description": "Invalid body, or Gmail rejected the query (`gmail_rejected`) "
                         "(problem+json)"},
    502: {"description": "Gmail failed (problem+json)"},
    503: {"description": "Gmail rate limit (`gmail_rate_limited`, Retry-After), or the policy "
                         "engine/log is unavailable (problem+json)"}}


router = GuardedRouter(prefix="/v1", tags=["mailboxes"])
router.add("POST", "/mailboxes/{mailbox_id}/search", search, action=Action.search,
           resource=mailbox_resource("message", owner_only=True),
           response_model=SearchResult, response_model_exclude_unset=True,
           responses=_ERRORS, tags=["search"], summary="Search with Gmail's query language",
           description="Gmail finds the ids, the store serves the messages (metadata view). "
                       "`not_synced` counts matches the store does not hold yet.")
