"""What the gateway's own result page says at the end of a consent that named no CRM return URL:
connected (which features work and which are missing, with a link to add them) or not connected
(why, in words, with a fresh link to try again).

The retry link is a new single-use consent link for the same end user, features and initiator
(gateway.oauth.states.retry_link), so its callback is decided and logged like the first one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.accounts.models import Tenant
from gateway.crypto import CryptoService
from gateway.mailboxes.address import mailbox_email
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.scopes import Feature, features_granted
from gateway.oauth import states
from gateway.oauth.models import OAuthState
from gateway.oauth.service import CallbackOutcome
from gateway.settings import Settings

# Why a consent did not connect, in the words the person reads (keys: the stable reason codes
# of gateway.oauth.service and Google's own error codes).
REASONS: dict[str, str] = {
    "access_denied": "You cancelled, or refused access on Google's page.",
    "no_gmail_permission": "Google's page was confirmed without any Gmail permission ticked, "
                           "so there is nothing the CRM could do with the mailbox.",
    "principal_disabled": "The CRM account this link was made for has been disabled.",
    "invalid_grant": "Google did not accept the answer (it may have been used already or be too "
                     "old).",
    "identity_unavailable": "Google did not say which account was connected.",
    "account_connected_to_another_user": "This Google account is already connected to another "
                                         "user of the CRM.",
    "wrong_google_account": "A different Google account was chosen than the mailbox being "
                            "reconnected.",
    "no_refresh_token": "Google did not grant lasting access; remove the app in your Google "
                        "account's security settings and try again.",
    "policy_denied": "The gateway's policy does not allow this connection.",
    "temporarily_unavailable": "The gateway could not record the connection just now.",
    "unreachable": "Google could not be reached.",
    "concurrent_connection": "The same Google account was being connected twice at once.",
    "missing_code": "Google's answer was incomplete.",
}
UNKNOWN_REASON = "Google or the gateway refused the connection."


def reason_text(reason: str | None) -> str:
    return REASONS.get(reason or "", UNKNOWN_REASON)


@dataclass(frozen=True)
class ResultPageData:
    status: str  # connected | denied | error
    tenant_name: str
    account_email: str | None = None
    granted: list[Feature] = field(default_factory=list)
    missing: list[Feature] = field(default_factory=list)
    reason: str | None = None
    retry_url: str | None = None
    retry_expires_at: datetime | None = None


def result_page_data(session: Session, settings: Settings, crypto: CryptoService,
                     state: OAuthState, outcome: CallbackOutcome) -> ResultPageData:
    tenant = session.get(Tenant, state.tenant_id)
    tenant_name = tenant.name if tenant is not None and tenant.name else "your CRM"
    if outcome.status != "connected":
        retry = states.retry_link(session, settings, state)
        return ResultPageData(status=outcome.status, tenant_name=tenant_name,
                              reason=outcome.reason, retry_url=retry.url if retry else None,
                              retry_expires_at=retry.expires_at if retry else None)
    mailbox = session.get(Mailbox, outcome.mailbox_id) if outcome.mailbox_id else None
    granted = features_granted(mailbox.granted_scopes or ()) if mailbox is not None else []
    retry = (states.retry_link(session, settings, state, mailbox.id)
             if outcome.missing and mailbox is not None else None)
    return ResultPageData(
        status="connected", tenant_name=tenant_name,
        account_email=(mailbox_email(session, crypto, mailbox, outcome.access)
                       if mailbox is not None and outcome.access is not None else None),
        granted=[f for f in Feature if f in granted],
        missing=list(outcome.missing), retry_url=retry.url if retry else None)
