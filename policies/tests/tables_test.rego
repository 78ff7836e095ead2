# data.json: facts about the tables that the rules rely on.
package gateway.authz_test

import data.gateway.tables

# action_known is `action` being defined: that holds only because no entry is false or null.
test_every_action_entry_is_an_object if {
	every _, action in tables.actions {
		is_object(action)
	}
}

# `denies` tells a well-formed request (whose purpose is permitted) nothing about prohibited
# purposes: sound only while no purpose is both.
test_no_purpose_is_both_permitted_and_prohibited if {
	every purpose, _ in tables.prohibited_purposes {
		not tables.permitted_purposes[purpose]
	}
}

# fast.rego's fast_permit stands for permit's first branch on these kinds: each must be a known
# kind with a kind_permits entry, with actor_ok and tenant_ok of one branch (not the system), and
# with no obligations (not analytics, not an operator).
test_fast_kinds_have_plain_kind_permits if {
	count(tables.fast_kinds) > 0
	every kind, fast in tables.fast_kinds {
		fast == true
		tables.actor_kinds[kind]
		not kind in {"system", "operator"}
		reason := tables.kind_permits[kind]
		data.gateway.authz.permit_obligations(reason) == {} with input.actor.kind as kind
	}
}
