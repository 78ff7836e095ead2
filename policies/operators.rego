# Human operators (Limited Use rule 6): no human reads mail unless the owner agreed for those
# specific messages (a consent grant), or a security or legal justification is recorded.
package gateway.authz

operator_metadata_action if action.operator_metadata == true

operator_content_action if action.operator_content == true

operator_mail_action if operator_metadata_action

operator_mail_action if operator_content_action

operator_mail_action if input.action == "mail.search"

# --- permits ----------------------------------------------------------------------------------

# Metadata or content of the messages/thread the owner's grant covers.
permits contains "allow_operator_grant" if {
	input.actor.kind == "operator"
	common_ok
	input.purpose == "support"
	grant_valid
}

# Metadata views without a grant: ids, dates, labels, sizes only (operator_redacted_fields).
permits contains "allow_operator_metadata_redacted" if {
	input.actor.kind == "operator"
	common_ok
	input.purpose == "support"
	operator_metadata_action
	not grant_valid
}

# Security investigation or legal compliance, with a recorded, unexpired case reference.
permits contains "allow_operator_justified" if {
	input.actor.kind == "operator"
	common_ok
	input.purpose in {"security", "legal"}
	operator_mail_action
	justification_ok
}

permits contains "allow_operator_consent" if {
	input.actor.kind == "operator"
	common_ok
	input.purpose == "consent_management"
}

# The transfer ground is checked by valid_transfer (transfer.rego), part of common_ok.
permits contains "allow_operator_transfer" if {
	input.actor.kind == "operator"
	common_ok
	input.action == "data.transfer"
}

# --- the consent grant (the one applicable grant, filled in by the enforcement point) ---------

grant_present if is_object(input.grant)

grant_not_revoked if input.grant.revoked == false

# Valid strictly before expires_at_ns: at expires_at_ns the grant has expired.
grant_unexpired if {
	is_number(input.now_ns)
	is_number(input.grant.expires_at_ns)
	input.now_ns < input.grant.expires_at_ns
}

grant_for_actor if {
	non_empty_string(input.grant.operator)
	input.grant.operator == input.actor.id
}

grant_for_actor if {
	non_empty_string(input.grant.operator_group)
	input.grant.operator_group in input.actor.groups
}

grant_purpose_ok if {
	non_empty_string(input.grant.purpose)
	input.grant.purpose == input.purpose
}

grant_for_mailbox if {
	non_empty_string(input.grant.mailbox)
	input.grant.mailbox == input.resource.mailbox
	non_empty_string(input.grant.owner)
	input.grant.owner == input.resource.owner
}

# Every requested message is named by the grant...
grant_covers_items if {
	action.message_scoped == true
	is_array(input.resource.ids)
	count(input.resource.ids) > 0
	is_array(input.grant.message_ids)
	count(ids_not_granted) == 0
}

# ...or the message's thread (resource.thread_id, taken from the store) is.
grant_covers_items if {
	message_or_thread_scoped
	non_empty_string(input.resource.thread_id)
	is_array(input.grant.thread_ids)
	input.resource.thread_id in input.grant.thread_ids
}

message_or_thread_scoped if action.message_scoped == true

message_or_thread_scoped if action.thread_scoped == true

ids_not_granted contains id if {
	some id in input.resource.ids
	not message_granted(id)
}

message_granted(id) if {
	some granted in input.grant.message_ids
	granted == id
}

grant_for_resource if {
	grant_for_mailbox
	grant_covers_items
}

grant_valid if {
	grant_present
	grant_not_revoked
	grant_unexpired
	grant_for_actor
	grant_purpose_ok
	grant_for_resource
}

grant_problems contains "consent_required" if not grant_present

grant_problems contains "grant_revoked" if {
	grant_present
	not grant_not_revoked
}

grant_problems contains "grant_expired" if {
	grant_present
	not grant_unexpired
}

grant_problems contains "grant_not_for_operator" if {
	grant_present
	not grant_for_actor
}

grant_problems contains "grant_purpose_mismatch" if {
	grant_present
	not grant_purpose_ok
}

grant_problems contains "grant_not_for_resource" if {
	grant_present
	not grant_for_resource
}

denies contains reason if {
	input.actor.kind == "operator"
	judged
	input.purpose == "support"
	operator_content_action
	some reason in grant_problems
}

# --- security / legal justification ------------------------------------------------------------

justification_recorded if {
	input.purpose in {"security", "legal"}
	input.justification.kind == input.purpose
	non_empty_string(input.justification.case_ref)
}

justification_unexpired if {
	is_number(input.now_ns)
	is_number(input.justification.expires_at_ns)
	input.now_ns < input.justification.expires_at_ns
}

justification_ok if {
	justification_recorded
	justification_unexpired
}

justification_problems contains "justification_required" if not justification_recorded

justification_problems contains "justification_expired" if {
	justification_recorded
	not justification_unexpired
}

denies contains reason if {
	input.actor.kind == "operator"
	judged
	input.purpose in {"security", "legal"}
	operator_mail_action
	some reason in justification_problems
}
