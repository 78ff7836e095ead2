"""The table of the OAuth flow: pending consent requests (`oauth_states`). The tokens a consent
yields are the mailbox's (`oauth_tokens`, gateway.mailboxes.models).

`oauth_states` never holds the state value itself, only its SHA-256: the value is a 256-bit
random secret that travels through the user's browser, and the PKCE code verifier is derived
from it under a server key (see gateway.oauth.flow), so a copy of this table cannot complete or
forge a consent.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.kit.models import Base, CreatedMixin, IdMixin


class OAuthState(IdMixin, CreatedMixin, Base):
    """One consent attempt, from `POST /v1/connect` to the callback. Single use."""

    __tablename__ = "oauth_states"

    state_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                                 index=True)
    # Whose Gmail is being connected (the mailbox owner) ...
    end_user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"))
    # ... and who asked for the link: the callback has no API key, so it is attributed to them.
    initiator_kind: Mapped[str] = mapped_column(String(32))
    initiator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"))
    initiator_connection: Mapped[str] = mapped_column(String(96))
    initiator_purpose: Mapped[str] = mapped_column(String(64))
    # Set when reconnecting a known mailbox (re-consent, reauth_required, disconnected).
    mailbox_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), default=None)
    features: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    force_consent: Mapped[bool] = mapped_column(default=True)
    return_url: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
