"""The privacy center's vocabulary: policy actions, purposes, mailbox states, sync phases and
refusal reasons in the words an end user reads. Unknown codes fall back to the code itself, so a
new action shows up (as its name) rather than disappearing from "who read my mail"."""

from __future__ import annotations

from datetime import timedelta

from gateway.policy.vocabulary import Action, MailboxState
from gateway.sync.models import SyncPhase

# What a person did; the page lists the items it was done to after it.
ACTION_WORDS: dict[str, str] = {
    Action.message_read_content.value: "read the message",
    Action.message_read_metadata.value: "saw the sender, subject and date of the message",
    Action.thread_read_content.value: "read the conversation",
    Action.thread_read_metadata.value: "saw the senders, subjects and dates in the conversation",
    Action.attachment_read.value: "opened an attachment of the message",
    Action.draft_read.value: "read a draft",
    Action.message_list.value: "listed your messages",
    Action.mailbox_read.value: "looked at your mailbox's status",
    Action.mailbox_list.value: "listed your mailboxes",
    Action.search.value: "searched your mail",
    Action.label_read.value: "saw your labels",
    Action.data_transfer.value: "transferred a copy of your mail",
    Action.consent_request_create.value: "asked you for access",
    Action.consent_list.value: "looked at the access requests and grants on your mailbox",
    Action.message_send.value: "sent a message",
    Action.message_modify.value: "changed the labels of a message",
    Action.message_delete.value: "moved a message to the trash",
    Action.draft_write.value: "wrote a draft",
    Action.label_modify.value: "changed your labels",
    Action.contact_timeline.value: "showed your mail with a contact",
    Action.data_export.value: "exported your mail",
    Action.data_restrict.value: "changed the restriction of your mailbox",
    Action.oauth_connect.value: "connected your mailbox",
    Action.oauth_disconnect.value: "disconnected your mailbox",
    Action.audit_query.value: "read your mailbox's access log",
    Action.justification_record.value: "recorded a security or legal case",
    Action.justification_list.value: "looked at the security and legal cases",
    Action.justification_revoke.value: "revoked a security or legal case",
}

PURPOSE_WORDS: dict[str, str] = {
    "support": "to help you, with your consent",
    "security": "for a security investigation",
    "legal": "to comply with the law",
    "merger": "for a merger or acquisition you consented to",
    "user_facing": "for the email features of the CRM you use",
    "contact_linking": "to link your mail to your CRM contacts",
    "sync": "to keep the CRM's copy of your mail up to date",
    "user_rights": "to carry out a request of yours (export, restriction, deletion)",
    "consent_management": "to manage access requests and grants",
    "audit_review": "to review the access log",
    "analytics_internal": "for anonymous, aggregated statistics",
}

STATE_WORDS: dict[str, str] = {
    MailboxState.active.value: "Connected",
    MailboxState.reauth_required.value: "Needs you to reconnect",
    MailboxState.restricted.value: "Restricted by you",
    MailboxState.disconnected.value: "Disconnected",
}

STATE_EXPLAINED: dict[str, str] = {
    MailboxState.active.value: "The CRM can use the features you granted below.",
    MailboxState.reauth_required.value: (
        "Google no longer accepts the CRM's access to this mailbox. Nothing is synced until "
        "you reconnect it."),
    MailboxState.restricted.value: (
        "You restricted processing: nothing is synced or read. You can still export, delete, "
        "manage human access, or lift the restriction."),
    MailboxState.disconnected.value: (
        "The CRM's access was revoked at Google and its tokens deleted. Reconnect to use the "
        "CRM's email features again."),
}

# Why a mailbox is in its state (`mailboxes.state_reason`).
STATE_REASON_WORDS: dict[str, str] = {
    "invalid_grant": (
        "Google no longer accepts the CRM's access: it may have been removed from your Google "
        "account, your password changed, or the access lapsed."),
    "restricted_by_user": "You restricted processing.",
    "disconnected": "The mailbox was disconnected, by you or by the CRM on your behalf.",
}

SYNC_WORDS: dict[str, str] = {
    SyncPhase.pending: "Waiting for the first sync",
    SyncPhase.full: "Copying your mail",
    SyncPhase.incremental: "Up to date",
    SyncPhase.stopped: "Stopped",
}

REASON_WORDS: dict[str, str] = {
    "consent_required": "you had not given consent for it",
    "grant_expired": "your consent had expired",
    "grant_revoked": "you had revoked your consent",
    "grant_not_for_operator": "your consent was for someone else",
    "justification_required": "no security or legal case covered it",
    "justification_expired": "the case had expired",
    "justification_revoked": "the case had been revoked",
    "justification_not_for_resource": "the case did not cover it",
    "justification_not_for_operator": "the case was for someone else",
    "grant_not_for_resource": "your consent did not cover it",
    "grant_purpose_mismatch": "your consent was for another purpose",
    "mailbox_restricted": "you had restricted your mailbox",
    "mailbox_disconnected": "your mailbox was disconnected",
    "mailbox_reauth_required": "your mailbox needed reconnecting",
    "scope_not_granted": "you had not granted that feature",
    "purpose_not_permitted": "the purpose was not allowed",
    "action_not_permitted": "this kind of person may not do it",
    "not_mailbox_owner": "the mailbox is not theirs",
}


def action_words(action: str) -> str:
    return ACTION_WORDS.get(action, action)


def purpose_words(purpose: str) -> str:
    return PURPOSE_WORDS.get(purpose, purpose)


def state_words(state: str) -> str:
    return STATE_WORDS.get(state, state)


def state_explained(state: str) -> str:
    return STATE_EXPLAINED.get(state, "")


def state_reason_words(reason: str | None) -> str | None:
    if not reason:
        return None
    return STATE_REASON_WORDS.get(reason, reason.replace("_", " "))


def sync_words(phase: str) -> str:
    return SYNC_WORDS.get(phase, phase)


def reasons_words(reasons: list[str]) -> str:
    return "; ".join(REASON_WORDS.get(r, r.replace("_", " ")) for r in reasons)


def duration_words(minutes: int) -> str:
    """`90` → "1 hour 30 minutes"; whole days and hours read as such."""
    left = timedelta(minutes=minutes)
    days, hours, mins = left.days, left.seconds // 3600, left.seconds % 3600 // 60
    parts = [f"{n} {unit}{'' if n == 1 else 's'}"
             for n, unit in ((days, "day"), (hours, "hour"), (mins, "minute")) if n]
    return " ".join(parts) or "less than a minute"
