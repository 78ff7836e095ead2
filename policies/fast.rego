# The usual permit, with less of OPA's evaluator in the way (docs/decisions/0003-policy-shaped-for-opa.md).
#
# The owner, the CRM service and reviewers are allowed by `permit`'s first branch: their
# tables.kind_permits entry, common_ok and owner_ok. For these kinds, on an action without special
# checks, four of common_ok's seven rules can hold by one branch only, so `fast_permit` writes
# those branches out in its own body (capable; actor_ok and tenant_ok, whose second branches are
# the system's; special_ok) and enters only the rules that keep two (resource_ok, state_ok,
# scope_ok) and owner_ok. OPA's evaluator spends most of a decision entering rules: a usual
# allowed request takes ~0.6 of the time it took through `permit` (bench/policy_case_bench).
#
# Exact, not a shortcut: in fast_domain, `fast_permit` holds exactly when `permit` does, with
# the same value, so the decision consults `permit` only outside fast_domain. Two Rego tests keep
# it so: tests/tables_test.rego (fast_kinds are known kinds with a kind_permits entry, not the
# system's, with no obligations) and tests/decision_table_test.rego (fast_permit == permit on
# every table case in fast_domain, undefined outside it).
package gateway.authz

import data.gateway.tables

# tables.fast_kinds: the kinds above.
fast_domain if {
	tables.fast_kinds[input.actor.kind]
	action := tables.actions[input.action]
	not action.special
}

# METADATA
# title: The usual permit of the owner, the CRM service and reviewers
# description: >-
#   Exactly `permit` for these kinds on actions without special checks: capabilities, actor,
#   tenant, resource, mailbox state, scopes and ownership.
# custom:
#   clauses:
#     - lu.user_facing
fast_permit := reason if {
	actor := input.actor
	tables.fast_kinds[actor.kind]
	reason := tables.kind_permits[actor.kind]
	action := tables.actions[input.action]
	not action.special # special_ok
	action.capable[actor.kind][input.purpose] == true # capable

	# actor_ok (tables.actor_kinds[kind]: fast_kinds names known kinds only)
	id := actor.id
	is_string(id)
	not id == ""
	tenant := actor.tenant
	is_string(tenant)
	not tenant == ""

	input.resource.tenant == tenant # tenant_ok
	resource_ok
	state_ok
	scope_ok
	owner_ok
}
