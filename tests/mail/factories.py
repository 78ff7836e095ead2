"""Messages put into the encrypted store the way sync will put them."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.mail.models import Message
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.models import Mailbox


def make_raw(subject: str, body: str, *, sender: str = "Carol <carol@customer.example>",
             to: str = "alice@tenant-a.example", attachment: bytes | None = None,
             cc: str | None = None, date: datetime | None = None, html: str | None = None,
             filename: str = "contract.pdf", mime_type: str = "application/pdf") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date) if date else "Tue, 10 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = f"<{abs(hash(subject))}@customer.example>"
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if attachment is not None:
        maintype, _, subtype = mime_type.partition("/")
        msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(msg)


def store_message(db: Database, crypto: CryptoService, mailbox: Mailbox, gmail_id: str,
                  thread_id: str, raw: bytes, labels: list[str] | None = None,
                  internal_date: datetime | None = None) -> Message:
    with db.transaction() as session:
        box = session.get(Mailbox, mailbox.id)
        assert box is not None
        return MessageStore(crypto).put(session, box, gmail_id=gmail_id, thread_id=thread_id,
                                        raw=raw, label_ids=labels or ["INBOX", "UNREAD"],
                                        internal_date=internal_date)
