# Unit tests: analytics (analytics.rego): aggregates over cohorts of at least k, no identifying
# group keys.
package gateway.authz_analytics_test

import data.gateway.authz
import data.gateway.authz_fixtures_test as f

# --- analytics ----------------------------------------------------------------------------------

test_cohort_ok if {
	authz.cohort_ok with input as f.aggregate
	d := f.decide(f.aggregate)
	d.allow == true
	d.obligations == {"min_cohort": 50}
}

test_cohort_boundary if {
	f.allowed(object.union(f.aggregate, {"aggregate": {"cohort_size": 51}}))
	f.reasons(object.union(f.aggregate, {"aggregate": {"cohort_size": 49}})) == {"cohort_too_small"}
	f.reasons(object.union(f.aggregate, {"aggregate": {"cohort_size": "50"}})) == {"cohort_too_small"}
	f.reasons(json.remove(f.aggregate, ["aggregate/cohort_size"])) == {"cohort_too_small"}
}

test_min_cohort_ok if {
	authz.min_cohort_ok with input as f.aggregate
	f.reasons(object.union(f.aggregate, {"settings": {"min_cohort": 1}, "aggregate": {"cohort_size": 10}})) == {"min_cohort_invalid", "cohort_too_small"}
	f.reasons(object.union(f.aggregate, {"settings": null})) == {"min_cohort_invalid", "cohort_too_small"}
	f.allowed(object.union(f.aggregate, {"settings": {"min_cohort": 2}, "aggregate": {"cohort_size": 2}}))
}

test_group_keys if {
	authz.group_keys_ok with input as f.aggregate
	f.allowed(object.union(f.aggregate, {"aggregate": {"group_keys": []}}))
	every key in ["mailbox", "owner", "email", "message_id", "thread_id", "subject", "ip", "user_id"] {
		f.reasons(object.union(f.aggregate, {"aggregate": {"group_keys": ["day", key]}})) == {"identifying_group_key"}
	}
	f.reasons(object.union(f.aggregate, {"aggregate": {"group_keys": "day"}})) == {"identifying_group_key"}
	f.reasons(json.remove(f.aggregate, ["aggregate/group_keys"])) == {"identifying_group_key"}
}

test_analytics_only_aggregates if {
	f.reasons(object.union(f.owner_read, {"actor": {"kind": "analytics", "id": "job-1"}, "purpose": "analytics_internal"})) == {"action_not_permitted"}
	f.reasons(object.union(f.aggregate, {"actor": {"kind": "crm_service"}})) == {"action_not_permitted"}
	f.reasons(object.union(f.aggregate, {"purpose": "support"})) == {"purpose_not_permitted"}
}
