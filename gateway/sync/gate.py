"""Every sync step passes the enforcement point as the system actor, and only its allow opens the
store for writing.

`SyncGate.authorize` asks the policy (`mail.sync`, purpose `sync`, actor `system:sync-worker`
bound to the mailbox's tenant) and writes one operation-log entry for the step, carrying the
Gmail ids the step touches (at most a batch) and its counts in `detail` — never content.
`SyncWriter` is the only way sync writes to the store and refuses without such an `Access`.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from gateway.audit.writer import SYSTEM_ACTOR_KIND, system_connection_id
from gateway.mail.models import Message
from gateway.mail.store.repository import AccessMismatch, IncomingMessage, MessageStore
from gateway.mailboxes.models import Mailbox
from gateway.policy.enforcement import (
    Access,
    AccessRequest,
    Actor,
    Enforcer,
    Terminal,
)
from gateway.policy.resources import mailbox_bound
from gateway.policy.vocabulary import Action

SYNC_JOB = "sync-worker"
SYNC_PURPOSE = "sync"
UPSTREAM = "gmail-api/v1 https"


class SyncGate:
    def __init__(self, enforcer: Enforcer, *, job: str = SYNC_JOB) -> None:
        self.enforcer = enforcer
        self.job = job
        self.host = socket.gethostname()

    def request(self, mailbox: Mailbox, step: str, *, ids: Iterable[str] = (),
                counts: Mapping[str, Any] | None = None) -> AccessRequest:
        tenant = str(mailbox.tenant_id)
        return AccessRequest(
            actor=Actor(kind=SYSTEM_ACTOR_KIND, id=f"system:{self.job}", tenant=tenant,
                        connection_id=system_connection_id(self.job)),
            purpose=SYNC_PURPOSE, action=Action.sync.value,
            resource=mailbox_bound(mailbox, ids=ids),
            terminal=Terminal(request_id=f"sync-{uuid.uuid4().hex}", protocol="internal",
                              user_agent=f"gmail-gateway/{self.job}", device_id=self.host),
            detail={"step": step, "upstream": UPSTREAM, **dict(counts or {})})

    def authorize(self, session: Session, mailbox: Mailbox, step: str, *,
                  ids: Iterable[str] = (), counts: Mapping[str, Any] | None = None) -> Access:
        """Decide and log one step; raises PolicyDenied / Unavailable like any request."""
        return self.enforcer.authorize(session, self.request(mailbox, step, ids=ids,
                                                             counts=counts))


def check_sync_access(access: Access, mailbox: Mailbox) -> None:
    """The store write must be covered by a sync decision for this very mailbox."""
    req = access.request
    if req.action != Action.sync.value or req.purpose != SYNC_PURPOSE:
        raise AccessMismatch("sync writes need a mail.sync decision")
    if not access.covers(tenant=str(mailbox.tenant_id), mailbox=str(mailbox.id)):
        raise AccessMismatch("this Access was granted for another mailbox")


class SyncWriter:
    """Store writes for sync, each checked against the step's `Access`."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store

    def put(self, session: Session, access: Access, mailbox: Mailbox, **fields: Any) -> Message:
        check_sync_access(access, mailbox)
        return self.store.put(session, mailbox, **fields)

    def put_many(self, session: Session, access: Access, mailbox: Mailbox,
                 items: Sequence[IncomingMessage]) -> int:
        """A fetched batch in a few statements (`MessageStore.put_many`); the ids must be
        those the step's decision named."""
        check_sync_access(access, mailbox)
        allowed = set(access.request.resource.ids)
        if any(item.gmail_id not in allowed for item in items):
            raise AccessMismatch("the batch holds ids the decision did not name")
        return self.store.put_many(session, mailbox, items)

    def remove(self, session: Session, access: Access, mailbox: Mailbox, gmail_id: str) -> bool:
        check_sync_access(access, mailbox)
        return self.store.remove(session, mailbox, gmail_id)
