# Unit tests: transfers to third parties (transfer.rego): the four grounds.
package gateway.authz_transfer_test

import data.gateway.authz_fixtures_test as f

# --- transfers ----------------------------------------------------------------------------------

test_transfer_for_a_user_feature if {
	f.allowed(f.transfer)
	f.reasons(object.union(f.transfer, {"transfer": {"consent_recorded": false}})) == {"transfer_consent_required"}
	f.reasons(json.remove(f.transfer, ["transfer/consent_recorded"])) == {"transfer_consent_required"}
	f.reasons(object.union(f.transfer, {"transfer": {"recipient": ""}})) == {"transfer_ground_invalid"}
	f.reasons(object.union(f.transfer, {"transfer": null})) == {"transfer_ground_invalid"}
}

test_owner_may_transfer_for_a_feature if {
	f.allowed(object.union(f.transfer, {"actor": {"kind": "end_user", "id": "u-alice"}}))
}

test_transfer_ground_must_fit_the_purpose if {
	f.reasons(object.union(f.transfer, {"transfer": {"ground": "security"}})) == {"transfer_ground_invalid"}
	f.reasons(object.union(f.transfer, {"transfer": {"ground": "merger"}})) == {"transfer_ground_invalid"}
	f.reasons(object.union(f.transfer, {"transfer": {"ground": "partnership"}})) == {"transfer_ground_invalid"}
}

operator_transfer(purpose, ground) := object.union(f.transfer, {
	"actor": {"kind": "operator", "id": "op-legal"},
	"purpose": purpose,
	"transfer": {"ground": ground},
	"justification": object.union(f.justification, {"kind": purpose, "case_ref": "CASE-1", "operator": "op-legal"}),
})

test_security_and_legal_transfers_need_a_justification if {
	every ground in ["security", "legal"] {
		d := f.decide(operator_transfer(ground, ground))
		d.allow == true
		d.obligations == {"flag_for_review": true}
		f.reasons(object.union(operator_transfer(ground, ground), {"justification": null})) == {"justification_required"}
		f.reasons(object.union(operator_transfer(ground, ground), {"justification": {"expires_at_ns": f.now}})) == {"justification_expired"}
	}
}

test_merger_needs_explicit_prior_consent if {
	f.allowed(operator_transfer("merger", "merger"))
	f.reasons(object.union(operator_transfer("merger", "merger"), {"transfer": {"consent_recorded": false}})) == {"transfer_consent_required"}
	f.reasons(operator_transfer("merger", "security")) == {"transfer_ground_invalid"}
}

test_crm_cannot_use_operator_grounds if {
	f.reasons(object.union(f.transfer, {"purpose": "merger", "transfer": {"ground": "merger"}})) == {"purpose_not_permitted"}
}

test_no_transfer_from_restricted_or_disconnected if {
	f.reasons(object.union(f.transfer, {"mailbox_state": "restricted"})) == {"mailbox_restricted"}
	f.reasons(object.union(f.transfer, {"mailbox_state": "disconnected"})) == {"mailbox_disconnected"}
}
