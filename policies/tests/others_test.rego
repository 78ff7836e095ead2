# Unit tests: reviewers, analytics, the system actor, transfers.
package gateway.authz_others_test

import data.gateway.authz
import data.gateway.authz_fixtures_test as f

decide(inp) := d if {
	d := authz.decision with input as inp
}

allowed(inp) if decide(inp).allow == true

reasons(inp) := {r | some r in decide(inp).reasons}

# --- reviewers --------------------------------------------------------------------------------

test_reviewer_queries_and_verifies if {
	allowed(f.reviewer_query)
	allowed(object.union(f.reviewer_query, {"action": "audit.verify"}))
	decide(f.reviewer_query).reasons == ["allow_reviewer"]
}

test_reviewer_only_for_audit_review if {
	reasons(object.union(f.reviewer_query, {"purpose": "security"})) == {"purpose_not_permitted"}
	reasons(object.union(f.owner_read, {"actor": {"kind": "reviewer", "id": "rev-1"}, "purpose": "audit_review"})) == {"action_not_permitted"}
	reasons(object.union(f.reviewer_query, {"action": "audit.purge", "purpose": "legal"})) == {"action_not_permitted"}
}

test_only_reviewers_query_the_log if {
	every kind in ["crm_service", "operator", "analytics", "system"] {
		reasons(object.union(f.reviewer_query, {"actor": {"kind": kind}})) == {"action_not_permitted"}
	}

	# An end user may read only their own mailbox's access log, never review the tenant's.
	reasons(object.union(f.reviewer_query, {"actor": {"kind": "end_user"}})) == {"purpose_not_permitted"}
}

# --- analytics ----------------------------------------------------------------------------------

test_cohort_ok if {
	authz.cohort_ok with input as f.aggregate
	d := decide(f.aggregate)
	d.allow == true
	d.obligations == {"min_cohort": 50}
}

test_cohort_boundary if {
	allowed(object.union(f.aggregate, {"aggregate": {"cohort_size": 51}}))
	reasons(object.union(f.aggregate, {"aggregate": {"cohort_size": 49}})) == {"cohort_too_small"}
	reasons(object.union(f.aggregate, {"aggregate": {"cohort_size": "50"}})) == {"cohort_too_small"}
	reasons(json.remove(f.aggregate, ["aggregate/cohort_size"])) == {"cohort_too_small"}
}

test_min_cohort_ok if {
	authz.min_cohort_ok with input as f.aggregate
	reasons(object.union(f.aggregate, {"settings": {"min_cohort": 1}, "aggregate": {"cohort_size": 10}})) == {"min_cohort_invalid", "cohort_too_small"}
	reasons(object.union(f.aggregate, {"settings": null})) == {"min_cohort_invalid", "cohort_too_small"}
	allowed(object.union(f.aggregate, {"settings": {"min_cohort": 2}, "aggregate": {"cohort_size": 2}}))
}

test_group_keys if {
	authz.group_keys_ok with input as f.aggregate
	allowed(object.union(f.aggregate, {"aggregate": {"group_keys": []}}))
	every key in ["mailbox", "owner", "email", "message_id", "thread_id", "subject", "ip", "user_id"] {
		reasons(object.union(f.aggregate, {"aggregate": {"group_keys": ["day", key]}})) == {"identifying_group_key"}
	}
	reasons(object.union(f.aggregate, {"aggregate": {"group_keys": "day"}})) == {"identifying_group_key"}
	reasons(json.remove(f.aggregate, ["aggregate/group_keys"])) == {"identifying_group_key"}
}

test_analytics_only_aggregates if {
	reasons(object.union(f.owner_read, {"actor": {"kind": "analytics", "id": "job-1"}, "purpose": "analytics_internal"})) == {"action_not_permitted"}
	reasons(object.union(f.aggregate, {"actor": {"kind": "crm_service"}})) == {"action_not_permitted"}
	reasons(object.union(f.aggregate, {"purpose": "support"})) == {"purpose_not_permitted"}
}

# --- system -------------------------------------------------------------------------------------

test_system_syncs if {
	allowed(f.sync)
	decide(f.sync).reasons == ["allow_system"]
	reasons(object.union(f.sync, {"mailbox_state": "restricted"})) == {"mailbox_restricted"}
	reasons(object.union(f.sync, {"scopes": []})) == {"scope_not_granted"}
	reasons(object.union(f.sync, {"purpose": "support"})) == {"purpose_not_permitted"}
}

test_system_maintenance if {
	rotate := object.union(f.sync, {"action": "keys.rotate", "purpose": "security"})
	allowed(rotate)
	allowed(object.union(rotate, {"mailbox_state": "restricted"}))
	purge := object.union(f.reviewer_query, {"actor": {"kind": "system", "id": "sys-ret", "tenant": null}, "action": "audit.purge", "purpose": "legal", "resource": {"tenant": null}})
	allowed(purge)
	reasons(object.union(purge, {"purpose": "security"})) == {"purpose_not_permitted"}
}

test_system_runs_exports_and_deletions if {
	allowed(object.union(f.sync, {"action": "data.export", "purpose": "user_rights"}))
	allowed(object.union(f.sync, {"action": "data.delete", "purpose": "user_rights", "mailbox_state": "restricted"}))
}

test_system_never_reads_content_or_sends if {
	every action in ["mail.message.read_content", "mail.message.send", "mail.search", "analytics.aggregate", "audit.query"] {
		reasons(object.union(f.sync, {"action": action})) == {"action_not_permitted"}
	}
}

# --- transfers ----------------------------------------------------------------------------------

test_transfer_for_a_user_feature if {
	allowed(f.transfer)
	reasons(object.union(f.transfer, {"transfer": {"consent_recorded": false}})) == {"transfer_consent_required"}
	reasons(json.remove(f.transfer, ["transfer/consent_recorded"])) == {"transfer_consent_required"}
	reasons(object.union(f.transfer, {"transfer": {"recipient": ""}})) == {"transfer_ground_invalid"}
	reasons(object.union(f.transfer, {"transfer": null})) == {"transfer_ground_invalid"}
}

test_owner_may_transfer_for_a_feature if {
	allowed(object.union(f.transfer, {"actor": {"kind": "end_user", "id": "u-alice"}}))
}

test_transfer_ground_must_fit_the_purpose if {
	reasons(object.union(f.transfer, {"transfer": {"ground": "security"}})) == {"transfer_ground_invalid"}
	reasons(object.union(f.transfer, {"transfer": {"ground": "merger"}})) == {"transfer_ground_invalid"}
	reasons(object.union(f.transfer, {"transfer": {"ground": "partnership"}})) == {"transfer_ground_invalid"}
}

operator_transfer(purpose, ground) := object.union(f.transfer, {
	"actor": {"kind": "operator", "id": "op-legal"},
	"purpose": purpose,
	"transfer": {"ground": ground},
	"justification": object.union(f.justification, {"kind": purpose, "case_ref": "CASE-1", "operator": "op-legal"}),
})

test_security_and_legal_transfers_need_a_justification if {
	every ground in ["security", "legal"] {
		d := decide(operator_transfer(ground, ground))
		d.allow == true
		d.obligations == {"flag_for_review": true}
		reasons(object.union(operator_transfer(ground, ground), {"justification": null})) == {"justification_required"}
		reasons(object.union(operator_transfer(ground, ground), {"justification": {"expires_at_ns": f.now}})) == {"justification_expired"}
	}
}

test_merger_needs_explicit_prior_consent if {
	allowed(operator_transfer("merger", "merger"))
	reasons(object.union(operator_transfer("merger", "merger"), {"transfer": {"consent_recorded": false}})) == {"transfer_consent_required"}
	reasons(operator_transfer("merger", "security")) == {"transfer_ground_invalid"}
}

test_crm_cannot_use_operator_grounds if {
	reasons(object.union(f.transfer, {"purpose": "merger", "transfer": {"ground": "merger"}})) == {"purpose_not_permitted"}
}

test_no_transfer_from_restricted_or_disconnected if {
	reasons(object.union(f.transfer, {"mailbox_state": "restricted"})) == {"mailbox_restricted"}
	reasons(object.union(f.transfer, {"mailbox_state": "disconnected"})) == {"mailbox_disconnected"}
}
