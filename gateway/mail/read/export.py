"""The right of access and portability (requirements §5): a mailbox's synced data, exported.

`GET /v1/mailboxes/{mailbox_id}/export` (policy action `data.export`, purpose `user_rights`; the
owner or the CRM service on their behalf; also while the mailbox is restricted) streams
newline-delimited JSON (`application/x-ndjson`):

    {"type": "mailbox", "format": "gmail-gateway-export/1", "mailbox_id": ..., "state": ...,
     "exported_at": ...}
    {"type": "message", <the content view of GET .../messages/{id}/content>,
     "raw": <the RFC 5322 bytes as Gmail gave them, base64url>}       (one per message)
    {"type": "end", "messages": <count>}

The raw message is the portable part: any mail client imports it. A stream that stops before
its `end` line is incomplete, since an error after the first byte cannot become a problem
document. Messages are read a page at a time, each page in its own short transaction, so a slow
reader holds no transaction open. The one decision is written to the operation log like any
other access (operation `data:export`); the user's own log entries are exported by
`GET /v1/mailboxes/{id}/access-log/export` (docs/audit.md).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.kit.db import Database
from gateway.kit.timeutil import utcnow
from gateway.mail.models import Message
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import mailbox_resource
from gateway.policy.enforcement import Access
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of

FORMAT = "gmail-gateway-export/1"
PAGE = 50


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(jsonable_encoder(obj), separators=(",", ":")).encode("utf-8") + b"\n"


def export_lines(database: Database, store: MessageStore, access: Access,
                 mailbox_id: uuid.UUID, state: str) -> Iterator[bytes]:
    """The export's lines. It takes the mailbox's id and state, not the request's `Mailbox`:
    the stream runs after the request's session has ended."""
    yield _line({"type": "mailbox", "format": FORMAT, "mailbox_id": mailbox_id,
                 "state": state, "exported_at": utcnow()})
    count, after = 0, None
    while True:
        lines = []
        with database.transaction() as session:
            query = select(Message).where(Message.mailbox_id == mailbox_id)
            if after is not None:
                query = query.where(Message.id > after)
            page = list(session.scalars(query.order_by(Message.id).limit(PAGE)))
            for message in page:
                view = store.content_view(session, access, message)
                raw = store.raw_bytes(session, access, message)
                view["raw"] = base64.urlsafe_b64encode(raw).decode("ascii")
                lines.append(_line({"type": "message", **view}))
        yield from lines
        count += len(page)
        if len(page) < PAGE:
            break
        after = page[-1].id
    yield _line({"type": "end", "messages": count})


def export_mailbox(mailbox_id: str, request: Request, access: AccessDep) -> StreamingResponse:
    mailbox: Mailbox = request.state.mailbox
    runtime = runtime_of(request)
    return StreamingResponse(
        export_lines(runtime.database, runtime.service(MessageStore), access, mailbox.id,
                     mailbox.state),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="mailbox-{mailbox.id}.ndjson"',
                 "Cache-Control": "private, no-store"})


router = GuardedRouter(prefix="/v1", tags=["mailboxes"])
router.add("GET", "/mailboxes/{mailbox_id}/export", export_mailbox,
           action=Action.data_export, resource=mailbox_resource(),
           response_class=StreamingResponse, tags=["mailboxes"],
           summary="Export the mailbox's synced data",
           description="The right of access and portability (purpose `user_rights`; the "
                       "owner or the CRM service; also while restricted): newline-delimited "
                       "JSON, a `mailbox` line, one `message` line per message (its content "
                       "view and the raw RFC 5322 bytes, base64url) and an `end` line with "
                       "the count. A stream without its `end` line is incomplete.")
