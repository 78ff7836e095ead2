"""Messages put into the encrypted store the way sync will put them."""

from __future__ import annotations

from email.message import EmailMessage

from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.mail.models import Mailbox, Message
from gateway.mail.store import MessageStore


def make_raw(subject: str, body: str, *, sender: str = "Carol <carol@customer.example>",
             to: str = "alice@tenant-a.example", attachment: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Tue, 10 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = f"<{abs(hash(subject))}@customer.example>"
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf",
                           filename="contract.pdf")
    return bytes(msg)


def store_message(db: Database, crypto: CryptoService, mailbox: Mailbox, gmail_id: str,
                  thread_id: str, raw: bytes, labels: list[str] | None = None) -> Message:
    with db.transaction() as session:
        box = session.get(Mailbox, mailbox.id)
        assert box is not None
        return MessageStore(crypto).put(session, box, gmail_id=gmail_id, thread_id=thread_id,
                                        raw=raw, label_ids=labels or ["INBOX", "UNREAD"])
