"""A mailbox's Gmail client: credentials from its sealed tokens (refreshed when near expiry), and
a dead grant found by a later call flips the mailbox to `reauth_required`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.crypto import CryptoService
from gateway.gmail.client import DEFAULT_TIMEOUT_SECONDS, GmailClient, QuotaBudget, build_client
from gateway.gmail.retry import RetryPolicy
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.tokens import MailboxNeedsUser, credentials_for, mark_reauth_required
from gateway.settings import Settings


def gmail_for(session: Session, mailbox: Mailbox, *, crypto: CryptoService,
              settings: Settings, database: Database | None = None,
              timeout: float = DEFAULT_TIMEOUT_SECONDS,
              budget: QuotaBudget | None = None,
              retry: RetryPolicy | None = None) -> GmailClient:
    """A Gmail client for `mailbox` (raises `MailboxNeedsUser` when its user must reconnect,
    now or when a refresh during a later call finds the grant dead)."""
    credentials = credentials_for(session, mailbox, crypto=crypto, settings=settings,
                                  database=database)
    client = build_client(credentials, settings, timeout=timeout, budget=budget, retry=retry)
    mailbox_id = mailbox.id

    def dead_grant(reason: str) -> None:
        # Like credentials_for: committed on its own when a database is given (the caller's
        # transaction may be gone or rolled back), else left in the caller's session.
        if database is not None:
            with database.independent_session() as own:
                box = own.get(Mailbox, mailbox_id)
                if box is None:
                    raise LookupError("the mailbox is gone")
                mark_reauth_required(own, box, reason, database=database)
                raise MailboxNeedsUser(box, "Google no longer accepts this mailbox's refresh "
                                            "token; its user must reconnect Gmail",
                                       base_url=settings.public_base_url)
        mark_reauth_required(session, mailbox, reason)
        raise MailboxNeedsUser(mailbox, "Google no longer accepts this mailbox's refresh token; "
                                        "its user must reconnect Gmail",
                               base_url=settings.public_base_url)

    client.on_dead_grant = dead_grant
    return client
