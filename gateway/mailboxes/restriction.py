"""Restriction of processing, a user's right (requirements §5): the owner, or the CRM service on
their behalf (purpose `user_rights`, action `data.restrict`), freezes a mailbox and lifts the
freeze.

While a mailbox is `restricted` the policy allows only what each action's `states` in
policies/data.json name: export and deletion, its status, listing and revoking human access,
key rotation, and lifting the restriction. The sync scheduler and push only pick `active`
mailboxes, so nothing is fetched from Gmail. The Gmail watch is not stopped: its notifications
are ignored and it lapses within 7 days, since only active mailboxes are renewed. The change of
state reaches the CRM as a `mailbox.state_changed` webhook event, like any other.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.kit.errors import Conflict
from gateway.kit.timeutil import utcnow
from gateway.mailboxes import events  # noqa: F401  registers the webhook events of state changes
from gateway.mailboxes.models import Mailbox, OAuthToken
from gateway.policy.vocabulary import MailboxState

RESTRICTED_REASON = "restricted_by_user"


def _not_disconnected(mailbox: Mailbox) -> None:
    if mailbox.state == MailboxState.disconnected:
        raise Conflict("this mailbox is disconnected: nothing is processed to restrict; "
                       "connect it again first", code="mailbox_disconnected")


def restrict(session: Session, mailbox: Mailbox) -> None:
    """Freeze the mailbox (idempotent)."""
    _not_disconnected(mailbox)
    if mailbox.state == MailboxState.restricted:
        return
    mailbox.state = MailboxState.restricted.value
    mailbox.state_reason = RESTRICTED_REASON
    mailbox.sync_requested_at = None
    session.flush()


def lift(session: Session, mailbox: Mailbox) -> None:
    """Lift the freeze (idempotent). The mailbox goes back to `reauth_required` if Google had
    refused its token before, otherwise to `active`, with a sync requested to catch up."""
    _not_disconnected(mailbox)
    if mailbox.state != MailboxState.restricted:
        return
    token = session.get(OAuthToken, mailbox.id)
    if token is not None and token.invalid_at is not None:
        mailbox.state = MailboxState.reauth_required.value
        mailbox.state_reason = token.invalid_reason or MailboxState.reauth_required.value
    else:
        mailbox.state = MailboxState.active.value
        mailbox.state_reason = None
        mailbox.sync_requested_at = utcnow()
    session.flush()
