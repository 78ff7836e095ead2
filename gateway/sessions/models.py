"""The page sessions table: only keyed hashes of the link token and of the cookie are stored."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.accounts.models import Principal
from gateway.kit.models import Base, CreatedMixin, IdMixin


class PageSession(IdMixin, CreatedMixin, Base):
    """One person's session on their pages. `link_hash` opens it once, before
    `link_expires_at`; then `session_hash` (the cookie's hash) authenticates it until
    `expires_at` or `revoked_at`."""

    __tablename__ = "page_sessions"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                                 index=True)
    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True)
    persona: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    link_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    link_expires_at: Mapped[datetime]
    opened_at: Mapped[datetime | None] = mapped_column(default=None)
    session_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True,
                                                       default=None)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    principal: Mapped[Principal] = relationship(lazy="joined")
