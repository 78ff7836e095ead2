"""The mailbox's Google address: user content, sealed under the mailbox's data key when the OAuth
callback learns it, opened only under an `Access` covering the mailbox."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.crypto import Binding, CryptoService
from gateway.mailboxes.models import MAILBOX_TABLE, Mailbox
from gateway.policy.enforcement import Access


def address_binding(mailbox: Mailbox) -> Binding:
    """What the address is sealed under."""
    return Binding.of(mailbox.tenant_id, mailbox.id, MAILBOX_TABLE, "email_address", mailbox.id)


def mailbox_email(session: Session, crypto: CryptoService, mailbox: Mailbox,
                  access: Access) -> str | None:
    """The mailbox's Google address (user content: opened under `access`, which must cover
    this mailbox), or None when there is none or the mailbox was crypto-shredded."""
    if mailbox.email_address is None or mailbox.data_deleted_at is not None:
        return None
    return crypto.open_content_text(session, access, address_binding(mailbox),
                                    mailbox.email_address)
