# Unit tests: human operators, consent grants, security/legal justifications, consent endpoints.
package gateway.authz_operators_test

import data.gateway.authz
import data.gateway.authz_fixtures_test as f

with_grant(patch) := object.union(f.operator_read, {"grant": patch})

# --- grants -----------------------------------------------------------------------------------

test_grant_valid if {
	authz.grant_valid with input as f.operator_read
	d := f.decide(f.operator_read)
	d.allow == true
	d.reasons == ["allow_operator_grant"]
	d.obligations == {"human_access": true, "authorised_by": "grant"}
}

test_no_grant if {
	inp := object.union(f.operator_read, {"grant": null})
	not authz.grant_present with input as inp
	f.reasons(inp) == {"consent_required"}
}

test_grant_missing_entirely if f.reasons(json.remove(f.operator_read, ["grant"])) == {"consent_required"}

test_grant_revoked if {
	f.reasons(with_grant({"revoked": true})) == {"grant_revoked"}
	f.reasons(with_grant({"revoked": "false"})) == {"grant_revoked"}
	f.reasons(json.remove(f.operator_read, ["grant/revoked"])) == {"grant_revoked"}
}

test_grant_expiry_boundary if {
	f.allowed(with_grant({"expires_at_ns": f.now + 1}))
	f.reasons(with_grant({"expires_at_ns": f.now})) == {"grant_expired"}
	f.reasons(with_grant({"expires_at_ns": f.now - 1})) == {"grant_expired"}
}

test_grant_expiry_needs_integers if {
	f.reasons(with_grant({"expires_at_ns": "2099-01-01T00:00:00Z"})) == {"grant_expired"}
	f.reasons(json.remove(f.operator_read, ["now_ns"])) == {"grant_expired"}
	f.reasons(json.remove(f.operator_read, ["grant/expires_at_ns"])) == {"grant_expired"}
}

test_grant_for_actor if {
	authz.grant_for_actor with input as f.operator_read
	f.reasons(with_grant({"operator": "op-eve"})) == {"grant_not_for_operator"}
	f.allowed(with_grant({"operator": null, "operator_group": "support-l1"}))
	f.reasons(with_grant({"operator": null, "operator_group": "support-l2"})) == {"grant_not_for_operator"}
	f.reasons(object.union(with_grant({"operator": null, "operator_group": "support-l1"}), {"actor": {"groups": null}})) == {"grant_not_for_operator"}
	f.reasons(with_grant({"operator": "", "operator_group": ""})) == {"grant_not_for_operator"}
}

test_grant_purpose if f.reasons(with_grant({"purpose": "security"})) == {"grant_purpose_mismatch"}

test_grant_for_mailbox_and_owner if {
	f.reasons(with_grant({"mailbox": "mb-other"})) == {"grant_not_for_resource"}
	f.reasons(with_grant({"owner": "u-other"})) == {"grant_not_for_resource"}
	f.reasons(object.union(f.operator_read, {"resource": {"mailbox": "mb-other"}})) == {"grant_not_for_resource"}
}

test_grant_covers_those_messages_only if {
	f.reasons(object.union(f.operator_read, {"resource": {"ids": ["m-2"], "thread_id": null}})) == {"grant_not_for_resource"}
	f.reasons(object.union(f.operator_read, {"resource": {"ids": ["m-1", "m-2"], "thread_id": null}})) == {"grant_not_for_resource"}
	f.reasons(object.union(f.operator_read, {"resource": {"ids": [], "thread_id": null}})) == {"grant_not_for_resource"}
	f.reasons(with_grant({"message_ids": null})) == {"grant_not_for_resource"}
	f.allowed(object.union(with_grant({"message_ids": ["m-1", "m-2"]}), {"resource": {"ids": ["m-2", "m-1"]}}))
}

test_thread_grants if {
	thread_grant := with_grant({"message_ids": [], "thread_ids": ["th-1"]})
	f.allowed(object.union(thread_grant, {"resource": {"ids": ["m-7"]}}))
	f.allowed(object.union(thread_grant, {"action": "mail.thread.read_content"}))
	f.reasons(object.union(thread_grant, {"resource": {"thread_id": "th-2"}})) == {"grant_not_for_resource"}
	f.reasons(object.union(thread_grant, {"resource": {"thread_id": null}})) == {"grant_not_for_resource"}
	f.reasons(object.union(f.operator_read, {"action": "mail.thread.read_content"})) == {"grant_not_for_resource"}
}

test_every_content_action_needs_a_grant if {
	every action in ["mail.message.read_content", "mail.thread.read_content", "mail.attachment.read", "mail.draft.read"] {
		f.reasons(object.union(f.operator_read, {"action": action, "grant": null})) == {"consent_required"}
	}
}

test_operator_metadata_is_redacted_without_a_grant if {
	every action in ["mail.message.read_metadata", "mail.message.list", "mail.thread.read_metadata", "mail.label.read", "mail.mailbox.read"] {
		d := f.decide(object.union(f.operator_read, {"action": action, "grant": null}))
		d.allow == true
		d.reasons == ["allow_operator_metadata_redacted"]
		"subject" in d.obligations.redact
		"body" in d.obligations.redact
		d.obligations.human_access == true
	}
}

test_operator_metadata_of_a_granted_message_is_not_redacted if {
	d := f.decide(object.union(f.operator_read, {"action": "mail.message.read_metadata"}))
	d.reasons == ["allow_operator_grant"]
	not d.obligations.redact
}

test_operator_cannot_write_or_search_for_support if {
	f.reasons(object.union(f.operator_read, {"action": "mail.message.send"})) == {"action_not_permitted"}
	f.reasons(object.union(f.operator_read, {"action": "mail.message.delete"})) == {"action_not_permitted"}
	f.reasons(object.union(f.operator_read, {"action": "mail.search"})) == {"purpose_not_permitted"}
	f.reasons(object.union(f.operator_read, {"purpose": "user_facing"})) == {"purpose_not_permitted"}
}

# --- justifications ----------------------------------------------------------------------------

test_justified_access if {
	d := f.decide(f.investigator_read)
	d.allow == true
	d.reasons == ["allow_operator_justified"]
	d.obligations == {"human_access": true, "authorised_by": "justification", "flag_for_review": true}
}

test_justified_search_and_legal if {
	f.allowed(object.union(f.investigator_read, {"action": "mail.search"}))
	f.allowed(object.union(f.investigator_read, {"purpose": "legal", "justification": {"kind": "legal"}}))
}

test_justification_required if {
	f.reasons(object.union(f.investigator_read, {"justification": null})) == {"justification_required"}
	f.reasons(object.union(f.investigator_read, {"justification": {"case_ref": ""}})) == {"justification_required"}
	f.reasons(object.union(f.investigator_read, {"justification": {"case_ref": 42}})) == {"justification_required"}
	f.reasons(object.union(f.investigator_read, {"justification": {"kind": "legal"}})) == {"justification_required"}
}

test_justification_expiry_boundary if {
	f.allowed(object.union(f.investigator_read, {"justification": {"expires_at_ns": f.now + 1}}))
	f.reasons(object.union(f.investigator_read, {"justification": {"expires_at_ns": f.now}})) == {"justification_expired"}
	f.reasons(json.remove(f.investigator_read, ["justification/expires_at_ns"])) == {"justification_expired"}
}

with_justification(patch) := object.union(f.investigator_read, {"justification": patch})

test_justification_revoked if {
	f.reasons(with_justification({"revoked": true})) == {"justification_revoked"}
	f.reasons(with_justification({"revoked": "false"})) == {"justification_revoked"}
	f.reasons(json.remove(f.investigator_read, ["justification/revoked"])) == {"justification_revoked"}
	f.reasons(with_justification({"revoked": true, "expires_at_ns": f.now})) == {"justification_revoked", "justification_expired"}
}

test_justification_for_actor if {
	f.reasons(with_justification({"operator": "op-eve"})) == {"justification_not_for_operator"}
	f.reasons(with_justification({"operator": null})) == {"justification_not_for_operator"}
	not f.allowed(with_justification({"operator": null, "operator_group": "sec-team"}))
	f.allowed(object.union(with_justification({"operator": null, "operator_group": "sec-team"}), {"actor": {"groups": ["sec-team"]}}))
	f.reasons(object.union(with_justification({"operator": null, "operator_group": "sec-team"}), {"actor": {"groups": null}})) == {"justification_not_for_operator"}
}

test_justification_for_that_mailbox_only if {
	f.reasons(with_justification({"mailbox": "mb-other"})) == {"justification_not_for_resource"}
	f.reasons(with_justification({"mailbox": null})) == {"justification_not_for_resource"}
	f.reasons(object.union(f.investigator_read, {"resource": {"mailbox": "mb-other"}})) == {"justification_not_for_resource"}
}

test_justification_scope if {
	# mailbox-wide only when both lists are present and empty
	f.reasons(json.remove(f.investigator_read, ["justification/message_ids"])) == {"justification_not_for_resource"}
	f.reasons(with_justification({"thread_ids": null})) == {"justification_not_for_resource"}
	f.allowed(object.union(f.investigator_read, {"action": "mail.search", "resource": {"ids": [], "thread_id": null}}))

	scoped := with_justification({"message_ids": ["m-1", "m-2"]})
	f.allowed(scoped)
	f.allowed(object.union(scoped, {"resource": {"ids": ["m-2", "m-1"]}}))
	f.reasons(object.union(scoped, {"resource": {"ids": ["m-1", "m-3"]}})) == {"justification_not_for_resource"}
	f.reasons(object.union(scoped, {"resource": {"ids": []}})) == {"justification_not_for_resource"}
	f.reasons(object.union(scoped, {"action": "mail.search"})) == {"justification_not_for_resource"}
	f.reasons(object.union(scoped, {"action": "mail.message.list"})) == {"justification_not_for_resource"}

	by_thread := with_justification({"thread_ids": ["th-1"]})
	f.allowed(object.union(by_thread, {"resource": {"ids": ["m-9"]}}))
	f.allowed(object.union(by_thread, {"action": "mail.thread.read_content"}))
	f.reasons(object.union(by_thread, {"resource": {"thread_id": "th-2"}})) == {"justification_not_for_resource"}
	f.reasons(object.union(by_thread, {"resource": {"thread_id": null}})) == {"justification_not_for_resource"}
}

test_a_foreign_justification_reports_every_problem if {
	inp := with_justification({"operator": "op-eve", "mailbox": "mb-other", "revoked": true})
	f.reasons(inp) == {"justification_not_for_operator", "justification_not_for_resource", "justification_revoked"}
}

test_a_justification_does_not_help_a_support_purpose if {
	inp := object.union(f.investigator_read, {"purpose": "support"})
	f.reasons(inp) == {"consent_required"}
}

# --- consent endpoints --------------------------------------------------------------------------

consent(base, action) := object.union(base, {"action": action, "purpose": "consent_management", "grant": null, "scopes": []})

test_owner_manages_consent if {
	every action in ["consent.grant.create", "consent.grant.revoke", "consent.list", "consent.request.decide"] {
		f.allowed(consent(f.owner_read, action))
	}
	f.reasons(consent(f.owner_read, "consent.request.create")) == {"action_not_permitted"}
}

test_owner_manages_only_their_mailbox if {
	f.reasons(object.union(consent(f.owner_read, "consent.grant.create"), {"resource": {"owner": "u-carol"}})) == {"not_mailbox_owner"}
}

test_operator_requests_and_lists_own if {
	f.allowed(consent(f.operator_read, "consent.request.create"))
	d := f.decide(consent(f.operator_read, "consent.list"))
	d.allow == true
	d.obligations == {"filter_operator": "op-bob"}
	f.reasons(consent(f.operator_read, "consent.grant.create")) == {"action_not_permitted"}
	f.reasons(consent(f.operator_read, "consent.request.decide")) == {"action_not_permitted"}
}

test_crm_cannot_consent_for_the_user if {
	f.reasons(consent(f.crm_read, "consent.grant.create")) == {"action_not_permitted"}
	f.reasons(consent(f.crm_read, "consent.request.decide")) == {"action_not_permitted"}
	f.allowed(consent(f.crm_read, "consent.grant.revoke"))
}
