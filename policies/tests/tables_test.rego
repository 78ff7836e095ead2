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
