# Human operators (Limited Use rule 6): no human reads mail unless the owner agreed for those
# specific messages (a consent grant), or a security or legal justification is recorded.
package gateway.authz

import data.gateway.tables

operator_metadata_action if action.operator_metadata == true

operator_content_action if action.operator_content == true

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

# --- what a grant and a justification have in common -----------------------------------------

# Valid strictly before expires_at_ns: at expires_at_ns the grant or justification has expired.
unexpired(expires_at_ns) if {
	now := input.now_ns
	is_number(now)
	is_number(expires_at_ns)
	now < expires_at_ns
}

# The record (grant or justification) names this operator (a non-empty id), or a group of theirs.
for_this_operator(record) if {
	record.operator == input.actor.id
	actor_id_set
} else if {
	group := record.operator_group
	non_empty_string(group)
	some member in input.actor.groups
	member == group
}

# The requested messages (resource.ids): a non-empty array.
requested_ids_set if {
	ids := input.resource.ids
	is_array(ids)
	not ids == []
}

message_or_thread_scoped if {
	action.message_scoped == true
} else if {
	action.thread_scoped == true
}

# Every requested message is named by the record, or the message's thread (resource.thread_id,
# taken from the store by the enforcement point) is.
covers_items(record) if {
	action.message_scoped == true
	requested_ids_set
	is_array(record.message_ids)
	not some_id_not_listed(record.message_ids)
} else if {
	message_or_thread_scoped
	thread := input.resource.thread_id
	non_empty_string(thread)
	thread_ids := record.thread_ids
	is_array(thread_ids)
	some listed in thread_ids
	listed == thread
}

some_id_not_listed(message_ids) if {
	some id in input.resource.ids
	not id_listed(id, message_ids)
}

id_listed(id, message_ids) if {
	some listed in message_ids
	listed == id
}

# --- the consent grant (the one applicable grant, filled in by the enforcement point) ---------

grant_present if is_object(input.grant)

grant_not_revoked if input.grant.revoked == false

grant_unexpired if unexpired(input.grant.expires_at_ns)

grant_for_actor if for_this_operator(input.grant)

grant_purpose_ok if {
	non_empty_string(input.grant.purpose)
	input.grant.purpose == input.purpose
}

grant_for_mailbox if {
	mailbox_set
	owner_set
	input.grant.mailbox == input.resource.mailbox
	input.grant.owner == input.resource.owner
}

# METADATA
# title: The grant names the specific messages
# description: >-
#   Every requested message is named by the grant, or the message's thread (from the store) is.
# custom:
#   clauses:
#     - lu.human_reading.consent
grant_covers_items if covers_items(input.grant)

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

justification_unexpired if unexpired(input.justification.expires_at_ns)

justification_not_revoked if input.justification.revoked == false

justification_for_actor if for_this_operator(input.justification)

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
	covers_items(input.justification)
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
# scope: rule
# description: >-
#   The enforcement point records the access as human access authorised by the owner's grant.
# custom:
#   clauses:
#     - lu.human_reading.consent
operator_obligations("allow_operator_grant") := {"human_access": true, "authorised_by": "grant"}

# METADATA
# title: Without a grant an operator sees no content
# scope: rule
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
# scope: rule
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
