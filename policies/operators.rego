# Human operators (Limited Use rule 6): no human reads mail unless the owner agreed for those
# specific messages (a consent grant), or a security or legal justification is recorded.
package gateway.authz

import data.gateway.tables

operator_metadata_action if tables.actions[input.action].operator_metadata == true

operator_content_action if tables.actions[input.action].operator_content == true

operator_mail_action if {
	operator_metadata_action
} else if {
	operator_content_action
} else if {
	input.action == "mail.search"
}

justified_purpose if {
	input.purpose == "security"
} else if {
	input.purpose == "legal"
}

# --- the operator's permit (consulted for operators only) -----------------------------------------
# One value: the branches are mutually exclusive (purposes support / security or legal /
# consent_management; the transfer is not a mail action), so the first that holds is the only one.

# Metadata or content of the messages/thread the owner's grant covers.
# METADATA
# title: A human operator reads mail only under one of the exceptions
# description: >-
#   Content and metadata of the messages or threads the owner's grant covers (support); metadata
#   views without a grant, redacted to ids, dates, labels and sizes; security or legal access
#   with a recorded justification; consent endpoints; a transfer on a valid ground. Nothing
#   else.
# custom:
#   clauses:
#     - lu.human_reading
#     - lu.human_reading.consent
#     - lu.human_reading.security
#     - lu.human_reading.legal
operator_permit := "allow_operator_grant" if {
	input.purpose == "support"
	common_ok
	grant_valid
} else := "allow_operator_metadata_redacted" if {
	# Metadata views without a grant (the branch above failed, so no valid grant): ids, dates,
	# labels, sizes only (operator_redacted_fields).
	input.purpose == "support"
	operator_metadata_action
	common_ok
} else := "allow_operator_justified" if {
	# Security investigation or legal compliance, with a recorded, unexpired case reference.
	justified_purpose
	operator_mail_action
	common_ok
	justification_ok
} else := "allow_operator_consent" if {
	input.purpose == "consent_management"
	common_ok
} else := "allow_operator_transfer" if {
	# The transfer ground is checked by valid_transfer (transfer.rego), part of common_ok.
	input.action == "data.transfer"
	common_ok
}

# --- the consent grant (the one applicable grant, filled in by the enforcement point) ---------

grant_present if is_object(input.grant)

grant_not_revoked if input.grant.revoked == false

# Valid strictly before expires_at_ns: at expires_at_ns the grant has expired.
grant_unexpired if {
	now := input.now_ns
	expires := input.grant.expires_at_ns
	is_number(now)
	is_number(expires)
	now < expires
}

# `== input.actor.id` with actor_id_set: the grant names a non-empty operator id, this one.
grant_for_actor if {
	input.grant.operator == input.actor.id
	actor_id_set
} else if {
	group := input.grant.operator_group
	non_empty_string(group)
	some member in input.actor.groups
	member == group
}

grant_purpose_ok if {
	purpose := input.grant.purpose
	purpose == input.purpose
	is_string(purpose)
	not purpose == ""
}

grant_for_mailbox if {
	grant := input.grant
	resource := input.resource
	mailbox := resource.mailbox
	grant.mailbox == mailbox
	is_string(mailbox)
	not mailbox == ""
	owner := resource.owner
	grant.owner == owner
	is_string(owner)
	not owner == ""
}

# Every requested message is named by the grant, or the message's thread (resource.thread_id,
# taken from the store by the enforcement point) is.
# METADATA
# title: The grant names the specific messages
# description: >-
#   Every requested message is named by the grant, or the message's thread (from the store) is.
# custom:
#   clauses:
#     - lu.human_reading.consent
grant_covers_items if {
	tables.actions[input.action].message_scoped == true
	ids := input.resource.ids
	is_array(ids)
	not ids == []
	is_array(input.grant.message_ids)
	not some_id_not_granted
} else if {
	message_or_thread_scoped
	thread := input.resource.thread_id
	non_empty_string(thread)
	thread_ids := input.grant.thread_ids
	is_array(thread_ids)
	some granted in thread_ids
	granted == thread
}

message_or_thread_scoped if {
	tables.actions[input.action].message_scoped == true
} else if {
	tables.actions[input.action].thread_scoped == true
}

some_id_not_granted if {
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

# METADATA
# title: The owner agreed to this operator reading these messages
# description: >-
#   A consent grant that is present, not revoked, unexpired, for this operator (or a group of
#   theirs), for this purpose, this mailbox and its owner, and covering every requested message
#   or its thread.
# custom:
#   clauses:
#     - lu.human_reading.consent
grant_valid if {
	grant_present
	grant_not_revoked
	grant_unexpired
	grant_for_actor
	grant_purpose_ok
	grant_for_resource
}

grant_problems contains "consent_required" if not grant_present

grant_problems contains reason if {
	grant_present
	some reason in present_grant_problems
}

present_grant_problems contains "grant_revoked" if not grant_not_revoked

present_grant_problems contains "grant_expired" if not grant_unexpired

present_grant_problems contains "grant_not_for_operator" if not grant_for_actor

present_grant_problems contains "grant_purpose_mismatch" if not grant_purpose_ok

present_grant_problems contains "grant_not_for_resource" if not grant_for_resource

# --- security / legal justification -------------------------------------------------------------
# The one applicable justification, looked up by the enforcement point (gateway/justifications):
# recorded by a reviewer for this operator (or one of their groups), this mailbox, a kind equal
# to the purpose, a case reference, until an expiry; message_ids/thread_ids both empty means the
# whole mailbox, otherwise only the named messages/threads (message- and thread-scoped actions).

# METADATA
# title: A security or legal case is recorded
# description: >-
#   The justification's kind is the purpose (security or legal) and it names a case reference.
# custom:
#   clauses:
#     - lu.human_reading.security
#     - lu.human_reading.legal
justification_recorded if {
	justified_purpose
	justification := input.justification
	justification.kind == input.purpose
	non_empty_string(justification.case_ref)
}

justification_unexpired if {
	now := input.now_ns
	expires := input.justification.expires_at_ns
	is_number(now)
	is_number(expires)
	now < expires
}

justification_not_revoked if input.justification.revoked == false

justification_for_actor if {
	input.justification.operator == input.actor.id
	actor_id_set
} else if {
	group := input.justification.operator_group
	non_empty_string(group)
	some member in input.actor.groups
	member == group
}

justification_for_mailbox if {
	input.justification.mailbox == input.resource.mailbox
	mailbox_set
}

# Both scope lists present and empty: the case covers the whole mailbox (`== []` implies an array).
justification_mailbox_wide if {
	justification := input.justification
	justification.message_ids == []
	justification.thread_ids == []
}

justification_covers_items if {
	justification_mailbox_wide
} else if {
	tables.actions[input.action].message_scoped == true
	ids := input.resource.ids
	is_array(ids)
	not ids == []
	is_array(input.justification.message_ids)
	not some_id_not_justified
} else if {
	message_or_thread_scoped
	thread := input.resource.thread_id
	non_empty_string(thread)
	thread_ids := input.justification.thread_ids
	is_array(thread_ids)
	some justified in thread_ids
	justified == thread
}

some_id_not_justified if {
	some id in input.resource.ids
	not message_justified(id)
}

message_justified(id) if {
	some justified in input.justification.message_ids
	justified == id
}

justification_for_resource if {
	justification_for_mailbox
	justification_covers_items
}

# METADATA
# title: A recorded justification covers this access
# description: >-
#   Recorded by a reviewer, unexpired, not revoked, for this operator (or a group of theirs),
#   this mailbox, and the requested messages or threads unless it is mailbox-wide.
# custom:
#   clauses:
#     - lu.human_reading.security
#     - lu.human_reading.legal
justification_ok if {
	justification_recorded
	justification_unexpired
	justification_not_revoked
	justification_for_actor
	justification_for_resource
}

justification_problems contains "justification_required" if not justification_recorded

justification_problems contains reason if {
	justification_recorded
	some reason in recorded_justification_problems
}

recorded_justification_problems contains "justification_expired" if not justification_unexpired

recorded_justification_problems contains "justification_revoked" if not justification_not_revoked

recorded_justification_problems contains "justification_not_for_operator" if not justification_for_actor

recorded_justification_problems contains "justification_not_for_resource" if not justification_for_resource

# --- refusals ---------------------------------------------------------------------------------

operator_problems contains reason if {
	input.purpose == "support"
	operator_content_action
	some reason in grant_problems
}

operator_problems contains reason if {
	justified_purpose
	operator_mail_action
	some reason in justification_problems
}

# --- obligations (only on an allow): by the one operator permit ---------------------------------
# Obligations echo no input string but the actor's id (a server-issued principal id).

# METADATA
# title: Access under a grant is human access
# description: >-
#   The enforcement point records the access as human access authorised by the owner's grant.
# custom:
#   clauses:
#     - lu.human_reading.consent
operator_obligations("allow_operator_grant") := {"human_access": true, "authorised_by": "grant"}

# METADATA
# title: Without a grant an operator sees no content
# description: >-
#   Metadata views are redacted of every content field (data.json operator_redacted_fields):
#   bodies, subjects, snippets, addresses, headers and attachment names.
# custom:
#   clauses:
#     - lu.human_reading
operator_obligations("allow_operator_metadata_redacted") := {
	"human_access": true,
	"redact": tables.operator_redacted_fields,
}

# Security and legal access is flagged for the reviewers (with the justification's case_ref).
# METADATA
# title: Security and legal access is flagged for review
# description: >-
#   Human access under a justification is flagged for the reviewers, with the justification's
#   case reference.
# custom:
#   clauses:
#     - lu.human_reading.security
#     - lu.human_reading.legal
operator_obligations("allow_operator_justified") := {
	"human_access": true,
	"authorised_by": "justification",
	"flag_for_review": true,
}

operator_obligations("allow_operator_consent") := {"filter_operator": input.actor.id} if {
	input.action == "consent.list"
} else := {}

operator_obligations("allow_operator_transfer") := {"flag_for_review": true}
