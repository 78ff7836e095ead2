"""Tables of the mailbox aggregate: the mailbox (`mailboxes`) and its Google tokens
(`oauth_tokens`).

`oauth_tokens` holds one row per mailbox; both tokens are sealed with the mailbox's data key and
bound to (tenant, mailbox, "oauth_tokens", column, mailbox id). The OAuth flow (gateway.oauth)
writes them at the callback; gateway.mailboxes.tokens refreshes them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.crypto import EncryptedColumn, Sealed
from gateway.kit.models import Base, CreatedMixin, IdMixin
from gateway.kit.timeutil import utcnow
from gateway.policy.vocabulary import MailboxState

MAILBOX_TABLE = "mailboxes"
TOKENS_TABLE = "oauth_tokens"


class Mailbox(IdMixin, CreatedMixin, Base):
    __tablename__ = MAILBOX_TABLE
    # One Google account, one mailbox per tenant: the account is known only by a keyed blind
    # index of its stable Google subject id (NULL once a disconnected mailbox is shredded).
    __table_args__ = (UniqueConstraint("tenant_id", "google_subject_index",
                                       name="uq_mailboxes_tenant_google_subject"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                                 index=True)
    owner_principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(32), default=MailboxState.active.value)
    granted_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Set by the OAuth flow (gateway.oauth); see docs/oauth.md.
    state_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    google_subject_index: Mapped[bytes | None] = mapped_column(LargeBinary(16), default=None)
    email_address: Mapped[Sealed | None] = mapped_column(EncryptedColumn(), default=None)
    connected_at: Mapped[datetime | None] = mapped_column(default=None)
    sync_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    data_deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def reconnect_url(self) -> str | None:
        """Where the CRM gets a fresh consent link when the connection needs the user again."""
        if self.state in (MailboxState.reauth_required, MailboxState.disconnected):
            return f"/v1/mailboxes/{self.id}/reconnect"
        return None


class OAuthToken(CreatedMixin, Base):
    """A mailbox's Google tokens, sealed. Deleted on disconnect."""

    __tablename__ = TOKENS_TABLE

    mailbox_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                                 index=True)
    client_id: Mapped[str] = mapped_column(String(255))
    refresh_token: Mapped[Sealed] = mapped_column(EncryptedColumn())
    access_token: Mapped[Sealed | None] = mapped_column(EncryptedColumn(), default=None)
    access_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # When Google last accepted the refresh token (exchange or refresh): the keep-alive clock.
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Set when Google answered invalid_grant: the token is kept out of use until reconnect.
    invalid_at: Mapped[datetime | None] = mapped_column(default=None)
    invalid_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
