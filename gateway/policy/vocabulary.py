"""The reviewed vocabulary of the policy contract: actor kinds, purposes and actions.

A request states its purpose in the `Gateway-Purpose` header. Purposes Google's Limited Use rules
forbid are *declared* here too, so they reach the policy and are refused there with a reason code
(and logged as denials) instead of being waved off as unknown strings.
"""

from __future__ import annotations

from enum import StrEnum


class ActorKind(StrEnum):
    end_user = "end_user"
    crm_service = "crm_service"
    operator = "operator"
    reviewer = "reviewer"
    analytics = "analytics"
    system = "system"  # background work: sync, retention, key rotation; never given an API key
    tenant_admin = "tenant_admin"  # the tenant's administrator: principals, API keys, onboarding


API_KEY_KINDS = frozenset(k for k in ActorKind if k is not ActorKind.system)

# Purposes a caller may legitimately state (the policy still decides which actor may use which).
PERMITTED_PURPOSES = frozenset({
    "user_facing",        # the email client inside the CRM: read, write, send, process mail
    "contact_linking",    # linking mail to CRM contacts (contact timeline)
    "sync",               # keeping the encrypted store current (system actor)
    "support",            # a human operator helping the user, bound to the user's consent grant
    "security",           # investigating a bug or abuse, with a recorded justification
    "legal",              # complying with applicable law, with a recorded justification
    "merger",             # transfer in a merger/acquisition, after explicit prior consent
    "audit_review",       # security reviewers reading the operation log
    "analytics_internal", # aggregated, anonymised internal operations
    "user_rights",        # access/portability, erasure, restriction, objection
    "consent_management", # owners and operators managing consent grants and requests
    "administration",     # a tenant admin: principals, API keys, page sessions, onboarding
})

# Purposes the Limited Use rules forbid outright; stated, they are denied by policy.
PROHIBITED_PURPOSES = frozenset({
    "advertising",
    "retargeting",
    "personalised_ads",
    "ad_platform_transfer",
    "data_sale",
    "data_broker_transfer",
    "credit_scoring",
    "lending",
    "ai_training",
    "ai_model_improvement",
})

DECLARED_PURPOSES = PERMITTED_PURPOSES | PROHIBITED_PURPOSES


class Action(StrEnum):
    mailbox_list = "mail.mailbox.list"
    mailbox_read = "mail.mailbox.read"
    message_list = "mail.message.list"
    message_read_metadata = "mail.message.read_metadata"
    message_read_content = "mail.message.read_content"
    message_send = "mail.message.send"
    message_modify = "mail.message.modify"
    message_delete = "mail.message.delete"
    thread_read_metadata = "mail.thread.read_metadata"
    thread_read_content = "mail.thread.read_content"
    attachment_read = "mail.attachment.read"
    draft_read = "mail.draft.read"
    draft_write = "mail.draft.write"
    label_read = "mail.label.read"
    label_modify = "mail.label.modify"
    search = "mail.search"
    contact_timeline = "mail.contact_timeline"
    sync = "mail.sync"
    oauth_connect = "oauth.connect"
    oauth_disconnect = "oauth.disconnect"
    consent_grant_create = "consent.grant.create"
    consent_grant_revoke = "consent.grant.revoke"
    consent_list = "consent.list"
    consent_request_create = "consent.request.create"
    consent_request_decide = "consent.request.decide"
    justification_record = "justification.record"   # reviewers: security/legal case records
    justification_list = "justification.list"
    justification_revoke = "justification.revoke"
    analytics_aggregate = "analytics.aggregate"
    audit_query = "audit.query"
    audit_verify = "audit.verify"
    compliance_report = "compliance.report"  # reviewers: the signed Limited Use evidence report
    data_export = "data.export"
    data_delete = "data.delete"
    data_restrict = "data.restrict"
    data_transfer = "data.transfer"
    key_rotate = "keys.rotate"
    audit_purge = "audit.purge"
    webhook_manage = "webhook.manage"  # the CRM: create, change, delete endpoints; redeliver
    webhook_read = "webhook.read"      # the CRM: list endpoints and their deliveries
    session_create = "session.create"  # a one-time link to a person's pages (docs/pages.md)
    session_open = "session.open"      # the person opens that link: the session begins
    session_revoke = "session.revoke"  # logout, or the CRM ending a person's session
    principal_manage = "principal.manage"  # a tenant admin: create and disable principals
    principal_read = "principal.read"      # a tenant admin: list and read principals
    api_key_manage = "api_key.manage"      # a tenant admin: issue and revoke API keys
    api_key_read = "api_key.read"          # a tenant admin: list API keys (prefixes only)


class MailboxState(StrEnum):
    active = "active"
    reauth_required = "reauth_required"
    restricted = "restricted"      # processing restricted by the user: export and deletion only
    disconnected = "disconnected"


# Google OAuth scopes (least privilege per feature; the full-mailbox scope is never requested).
SCOPE_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SCOPE_SEND = "https://www.googleapis.com/auth/gmail.send"
SCOPE_MODIFY = "https://www.googleapis.com/auth/gmail.modify"
SCOPE_LABELS = "https://www.googleapis.com/auth/gmail.labels"
SCOPE_COMPOSE = "https://www.googleapis.com/auth/gmail.compose"
