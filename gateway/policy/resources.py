"""The policy's view of a mailbox: one builder for every `Resource` that names one, so the API,
the sync worker and the watch keeper give the policy the same facts."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Protocol

from gateway.policy.enforcement import Resource


class MailboxFacts(Protocol):
    """What the policy is told of a mailbox (`gateway.mailboxes.models.Mailbox` has it)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def tenant_id(self) -> uuid.UUID: ...
    @property
    def owner_principal_id(self) -> uuid.UUID: ...
    @property
    def state(self) -> str: ...
    @property
    def granted_scopes(self) -> Sequence[str] | None: ...


def mailbox_bound(mailbox: MailboxFacts, resource_type: str = "mailbox", *,
                  ids: Iterable[str] = (), thread_id: str | None = None,
                  with_state: bool = True) -> Resource:
    """A resource of `mailbox`: its tenant, owner, state and granted scopes, and the ids (and
    thread) the request names. `with_state=False` leaves the state out, so an action the
    policy binds to no mailbox (reading a mailbox's operation log) is allowed in every state."""
    return Resource(type=resource_type, tenant=str(mailbox.tenant_id), mailbox=str(mailbox.id),
                    owner=str(mailbox.owner_principal_id), ids=tuple(ids), thread_id=thread_id,
                    mailbox_state=mailbox.state if with_state else None,
                    scopes=tuple(mailbox.granted_scopes or ()))


def mailbox_connecting(tenant_id: uuid.UUID, mailbox_id: uuid.UUID, owner_id: uuid.UUID,
                       scopes: Iterable[str], existing: MailboxFacts | None) -> Resource:
    """The mailbox an OAuth callback connects: the tenant and the user the consent link was
    for, the scopes Google granted, and the state of the mailbox it reconnects (None: a new
    mailbox, which has no row yet)."""
    return Resource(type="mailbox", tenant=str(tenant_id), mailbox=str(mailbox_id),
                    owner=str(owner_id), scopes=tuple(scopes),
                    mailbox_state=existing.state if existing is not None else None)
