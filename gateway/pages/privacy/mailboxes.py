"""The owner's connected mailboxes: state, the features granted and missing, and sync progress.

The facts are the API's: `gateway.mailboxes.router.mailbox_out` (state, features, address) and
`gateway.sync.router.sync_view` (`GET /v1/mailboxes/{id}/sync`), put into words."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.crypto import CryptoService
from gateway.mailboxes.address import mailbox_email
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.scopes import FEATURES, Feature, features_granted
from gateway.pages.privacy.words import (
    state_explained,
    state_reason_words,
    state_words,
    sync_words,
)
from gateway.policy.enforcement import Access
from gateway.policy.vocabulary import MailboxState
from gateway.sync.router import sync_view

# States in which the owner may ask for a new consent link (policies/data.json, oauth.connect;
# tests/pages/test_privacy_views.py keeps the two equal).
RECONNECTABLE = frozenset({MailboxState.active.value, MailboxState.reauth_required.value,
                           MailboxState.disconnected.value})


@dataclass(frozen=True)
class FeatureLine:
    feature: str
    title: str
    why: str


@dataclass(frozen=True)
class SyncProgress:
    phase: str
    phase_words: str
    running: bool
    messages_stored: int
    full_sync_started_at: datetime | None
    full_sync_messages_done: int
    full_sync_pages_done: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    next_attempt_at: datetime | None
    sync_requested_at: datetime | None


@dataclass(frozen=True)
class MailboxCard:
    id: uuid.UUID
    address: str | None
    state: str
    state_words: str
    state_explained: str
    state_reason: str | None
    connected_at: datetime | None
    data_deleted_at: datetime | None
    granted: list[FeatureLine]
    missing: list[FeatureLine]
    can_reconnect: bool
    needs_reconnect: bool

    @property
    def title(self) -> str:
        return self.address or "Gmail mailbox (address erased)"


def _line(feature: Feature) -> FeatureLine:
    scope = FEATURES[feature]
    return FeatureLine(feature.value, scope.title, scope.why)


def mailbox_card(session: Session, crypto: CryptoService, mailbox: Mailbox,
                 access: Access) -> MailboxCard:
    """The mailbox in words; its address opens under the page's decision (`access`)."""
    enabled = features_granted(mailbox.granted_scopes or ())
    return MailboxCard(
        id=mailbox.id, address=mailbox_email(session, crypto, mailbox, access), state=mailbox.state,
        state_words=state_words(mailbox.state), state_explained=state_explained(mailbox.state),
        state_reason=state_reason_words(mailbox.state_reason),
        connected_at=mailbox.connected_at,
        data_deleted_at=mailbox.data_deleted_at,
        granted=[_line(f) for f in enabled],
        missing=[_line(f) for f in Feature if f not in enabled],
        can_reconnect=mailbox.state in RECONNECTABLE,
        needs_reconnect=mailbox.state in (MailboxState.reauth_required.value,
                                          MailboxState.disconnected.value))


def own_mailboxes(session: Session, crypto: CryptoService, tenant_id: uuid.UUID,
                  owner_id: uuid.UUID, access: Access) -> list[MailboxCard]:
    """The owner's mailboxes in their tenant, oldest first (as `GET /v1/mailboxes` lists them)."""
    rows = session.scalars(select(Mailbox).where(Mailbox.tenant_id == tenant_id,
                                                 Mailbox.owner_principal_id == owner_id)
                           .order_by(Mailbox.created_at, Mailbox.id))
    return [mailbox_card(session, crypto, m, access) for m in rows]


def sync_progress(session: Session, mailbox: Mailbox) -> SyncProgress:
    view = sync_view(session, mailbox)
    return SyncProgress(
        phase=view.phase, phase_words=sync_words(view.phase), running=view.running,
        messages_stored=view.counts.messages_stored,
        full_sync_started_at=view.full_sync.started_at,
        full_sync_messages_done=view.full_sync.messages_done,
        full_sync_pages_done=view.full_sync.pages_done,
        last_success_at=view.last_success_at, last_error=view.last_error,
        last_error_at=view.last_error_at, next_attempt_at=view.next_attempt_at,
        sync_requested_at=view.sync_requested_at)
