# Aggregated, anonymised internal operations (Limited Use rule 6d, rule 7): aggregates only, over
# cohorts of at least settings.min_cohort users, never grouped by anything identifying.
package gateway.authz

import data.gateway.tables

# k below 2 is no anonymisation at all, whatever the configuration says.
# METADATA
# title: The configured minimum cohort anonymises
# description: >-
#   k (settings.min_cohort) below 2 is no anonymisation at all, whatever the configuration says:
#   every aggregate is refused (min_cohort_invalid).
# custom:
#   clauses:
#     - lu.analytics
#     - lu.human_reading.aggregated
min_cohort_ok if {
	k := input.settings.min_cohort
	is_number(k)
	k >= 2
}

# METADATA
# title: Aggregates only over cohorts of at least k users
# description: >-
#   An aggregate is allowed only over a cohort of at least settings.min_cohort users.
# custom:
#   clauses:
#     - lu.analytics
#     - lu.human_reading.aggregated
#     - lu.derived
cohort_ok if {
	min_cohort_ok
	size := input.aggregate.cohort_size
	is_number(size)
	size >= input.settings.min_cohort
}

# Group keys come from an allow-list (data.json: non_identifying_group_keys).
# METADATA
# title: Aggregates are never grouped by anything identifying
# description: >-
#   Every group key is on the allow-list of non-identifying keys (data.json
#   non_identifying_group_keys): tenant, time buckets, action, purpose, decision, reason, actor
#   kind, mailbox state, label kind, scope, size bucket.
# custom:
#   clauses:
#     - lu.analytics
#     - lu.human_reading.aggregated
#     - lu.derived
group_keys_ok if {
	is_array(input.aggregate.group_keys)
	not identifying_group_key
}

identifying_group_key if {
	some key in input.aggregate.group_keys
	not non_identifying_key(key)
}

non_identifying_key(key) if tables.non_identifying_group_keys[key]

aggregate_problems contains "cohort_too_small" if not cohort_ok

aggregate_problems contains "identifying_group_key" if not group_keys_ok

aggregate_problems contains "min_cohort_invalid" if not min_cohort_ok
