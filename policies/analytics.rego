# Aggregated, anonymised internal operations (Limited Use rule 6d, rule 7): aggregates only, over
# cohorts of at least settings.min_cohort users, never grouped by anything identifying.
package gateway.authz

import data.gateway.tables

# k below 2 is no anonymisation at all, whatever the configuration says.
min_cohort_ok if {
	is_number(input.settings.min_cohort)
	input.settings.min_cohort >= 2
}

cohort_ok if {
	min_cohort_ok
	is_number(input.aggregate.cohort_size)
	input.aggregate.cohort_size >= input.settings.min_cohort
}

group_keys_ok if {
	is_array(input.aggregate.group_keys)
	count(identifying_group_keys) == 0
}

identifying_group_keys contains key if {
	some key in input.aggregate.group_keys
	not non_identifying_key(key)
}

non_identifying_key(key) if tables.non_identifying_group_keys[key]

analytics_relevant if {
	input.action == "analytics.aggregate"
	judged
}

denies contains "cohort_too_small" if {
	analytics_relevant
	not cohort_ok
}

denies contains "identifying_group_key" if {
	analytics_relevant
	not group_keys_ok
}

denies contains "min_cohort_invalid" if {
	analytics_relevant
	not min_cohort_ok
}
