# The policy vocabulary: actor kinds, purposes, actions and scopes.
# Mirrors gateway/policy/vocabulary.py; tests/policy/test_vocabulary_sync.py keeps the two equal.
package gateway.authz

actor_kinds := {"end_user", "crm_service", "operator", "reviewer", "analytics", "system"}

permitted_purposes := {
	"user_facing",
	"contact_linking",
	"sync",
	"support",
	"security",
	"legal",
	"merger",
	"audit_review",
	"analytics_internal",
	"user_rights",
	"consent_management",
}

# Prohibited purpose -> the reason code its denial carries (Limited Use rules 3, 4 and 5).
prohibited_purposes := {
	"advertising": "purpose_prohibited_advertising",
	"retargeting": "purpose_prohibited_advertising",
	"personalised_ads": "purpose_prohibited_advertising",
	"ad_platform_transfer": "purpose_prohibited_advertising",
	"data_sale": "purpose_prohibited_sale",
	"data_broker_transfer": "purpose_prohibited_sale",
	"credit_scoring": "purpose_prohibited_credit",
	"lending": "purpose_prohibited_credit",
	"ai_training": "purpose_prohibited_ai_training",
	"ai_model_improvement": "purpose_prohibited_ai_training",
}

actions := {
	"mail.mailbox.list",
	"mail.mailbox.read",
	"mail.message.list",
	"mail.message.read_metadata",
	"mail.message.read_content",
	"mail.message.send",
	"mail.message.modify",
	"mail.message.delete",
	"mail.thread.read_metadata",
	"mail.thread.read_content",
	"mail.attachment.read",
	"mail.draft.read",
	"mail.draft.write",
	"mail.label.read",
	"mail.label.modify",
	"mail.search",
	"mail.contact_timeline",
	"mail.sync",
	"oauth.connect",
	"oauth.disconnect",
	"consent.grant.create",
	"consent.grant.revoke",
	"consent.list",
	"consent.request.create",
	"consent.request.decide",
	"analytics.aggregate",
	"audit.query",
	"audit.verify",
	"data.export",
	"data.delete",
	"data.restrict",
	"data.transfer",
	"keys.rotate",
	"audit.purge",
}

mailbox_states := {"active", "reauth_required", "restricted", "disconnected"}

scope_readonly := "https://www.googleapis.com/auth/gmail.readonly"

scope_send := "https://www.googleapis.com/auth/gmail.send"

scope_modify := "https://www.googleapis.com/auth/gmail.modify"

scope_labels := "https://www.googleapis.com/auth/gmail.labels"

scope_compose := "https://www.googleapis.com/auth/gmail.compose"

# --- action classes -------------------------------------------------------------------------

# Reads of mail data served from the encrypted store (no call to Gmail).
store_read_actions := {
	"mail.mailbox.read",
	"mail.message.list",
	"mail.message.read_metadata",
	"mail.message.read_content",
	"mail.thread.read_metadata",
	"mail.thread.read_content",
	"mail.attachment.read",
	"mail.draft.read",
	"mail.label.read",
	"mail.search",
	"mail.contact_timeline",
}

# Actions that call the Gmail API with the mailbox's OAuth token.
gmail_actions := {
	"mail.message.send",
	"mail.message.modify",
	"mail.message.delete",
	"mail.draft.write",
	"mail.label.modify",
	"mail.sync",
}

# Actions about one mailbox: resource.mailbox, resource.owner and mailbox_state are required.
mailbox_bound_actions := (store_read_actions | gmail_actions) | {
	"oauth.disconnect",
	"consent.grant.create",
	"consent.grant.revoke",
	"consent.request.create",
	"consent.request.decide",
	"data.export",
	"data.delete",
	"data.restrict",
	"data.transfer",
}

# What a restricted mailbox still allows: export and deletion (Limited Use / GDPR art. 18),
# lifting the restriction, revoking or listing human access, showing the mailbox's status,
# and key rotation (protection, not processing).
restricted_allowed_actions := {
	"data.export",
	"data.delete",
	"data.restrict",
	"oauth.disconnect",
	"consent.list",
	"consent.grant.revoke",
	"mail.mailbox.read",
	"keys.rotate",
}

# A disconnected mailbox (the user withdrew the integration): as restricted, plus reconnecting.
disconnected_allowed_actions := restricted_allowed_actions | {"oauth.connect"}

# Human operators: views of metadata (redacted unless a grant covers the message or thread).
operator_metadata_actions := {
	"mail.mailbox.read",
	"mail.message.list",
	"mail.message.read_metadata",
	"mail.thread.read_metadata",
	"mail.label.read",
}

# Human operators: message content, only with a grant for that message/thread or a justification.
operator_content_actions := {
	"mail.message.read_content",
	"mail.thread.read_content",
	"mail.attachment.read",
	"mail.draft.read",
}

# Actions a grant can cover message by message (or through the message's thread).
message_scoped_actions := {
	"mail.message.read_content",
	"mail.message.read_metadata",
	"mail.attachment.read",
	"mail.draft.read",
}

# Actions a grant covers only through its thread ids.
thread_scoped_actions := {"mail.thread.read_content", "mail.thread.read_metadata"}

# Global maintenance a system actor may run without a resource tenant.
system_global_actions := {"keys.rotate", "audit.purge"}

# Group keys an aggregate may be grouped by: none of them identifies a user or a message.
non_identifying_group_keys := {
	"tenant",
	"day",
	"week",
	"month",
	"hour",
	"action",
	"purpose",
	"decision",
	"reason",
	"actor_kind",
	"mailbox_state",
	"label_kind",
	"scope",
	"size_bucket",
}

# Fields an operator's metadata view must hide when no grant covers the message.
operator_redacted_fields := [
	"attachment_names",
	"bcc",
	"body",
	"cc",
	"from",
	"headers",
	"reply_to",
	"snippet",
	"subject",
	"to",
]

# --- required scopes (any one of the set suffices) -----------------------------------------

read_scopes := {scope_readonly, scope_modify}

required_scopes := {
	"mail.message.list": read_scopes,
	"mail.message.read_metadata": read_scopes,
	"mail.message.read_content": read_scopes,
	"mail.thread.read_metadata": read_scopes,
	"mail.thread.read_content": read_scopes,
	"mail.attachment.read": read_scopes,
	"mail.search": read_scopes,
	"mail.contact_timeline": read_scopes,
	"mail.sync": read_scopes,
	"mail.draft.read": (read_scopes | {scope_compose}),
	"mail.label.read": (read_scopes | {scope_labels}),
	"mail.message.send": {scope_send, scope_compose, scope_modify},
	"mail.draft.write": {scope_compose, scope_modify},
	"mail.label.modify": {scope_labels, scope_modify},
	"mail.message.modify": {scope_modify},
	"mail.message.delete": {scope_modify},
}
