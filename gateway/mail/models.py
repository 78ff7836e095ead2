"""The encrypted message store: messages, their address index, labels (each of a mailbox,
gateway.mailboxes)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.crypto import EncryptedColumn, Sealed
from gateway.kit.models import Base, IdMixin
from gateway.kit.timeutil import utcnow


class Message(IdMixin, Base):
    """One Gmail message. Everything a person wrote (subject, addresses, headers, bodies, the
    raw RFC 5322 bytes) is sealed with the mailbox's data key; only ids, dates, labels and sizes
    are in clear, because the store must sort and filter by them."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "gmail_id"),
        Index("ix_messages_mailbox_date", "mailbox_id", "internal_date", "id"),
        Index("ix_messages_mailbox_thread", "mailbox_id", "thread_id"),
        # PostgreSQL: labels per mailbox, for label filters (migration 0014, mail/queries.py).
        Index("ix_messages_mailbox_labels",
              func.gw_mailbox_label_keys(text("mailbox_id"), text("label_ids")),
              postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    mailbox_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    gmail_id: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[str] = mapped_column(String(64))
    history_id: Mapped[int] = mapped_column(BigInteger, default=0)
    internal_date: Mapped[datetime]
    label_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    size_estimate: Mapped[int] = mapped_column(default=0)
    attachment_count: Mapped[int] = mapped_column(default=0)
    summary: Mapped[Sealed] = mapped_column(EncryptedColumn())
    body: Mapped[Sealed] = mapped_column(EncryptedColumn())
    raw: Mapped[Sealed] = mapped_column(EncryptedColumn())
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageAddress(Base):
    """Keyed blind index of each address on a message: 'all mail with alice@example.com'
    without decrypting anything and without a plaintext address column."""

    __tablename__ = "message_addresses"
    __table_args__ = (Index("ix_message_addresses_lookup", "mailbox_id", "address_index"),)

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(8), primary_key=True)
    address_index: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    mailbox_id: Mapped[uuid.UUID] = mapped_column(Uuid)


class Label(IdMixin, Base):
    """One Gmail label of a mailbox (system labels such as INBOX, and the user's own). The
    name is the user's words ("Clients/Acme"), so it is sealed like message content; the Gmail id
    and type are in clear because messages refer to labels by id."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("mailbox_id", "gmail_label_id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    mailbox_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"),
                                                  index=True)
    gmail_label_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16), default="user")  # "system" | "user"
    name: Mapped[Sealed] = mapped_column(EncryptedColumn())
    message_list_visibility: Mapped[str | None] = mapped_column(String(16), default=None)
    label_list_visibility: Mapped[str | None] = mapped_column(String(32), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
