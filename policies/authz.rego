# The Limited Use policy set: data.gateway.authz.decision.
#
# Shape: an access is allowed when at least one `permits` rule fires and no `denies` rule
# does. Every permit rule checks each of its conditions *positively* (a missing or malformed
# input field makes it undefined, hence no permit, hence deny); the deny rules explain a
# refusal with stable reason codes and repeat the prohibitions as a second line of defence.
#
# The vocabulary and the tables (actions and their classes, which actor kind may do what for
# which purpose, required scopes) are in data.json, under data.gateway.tables.
#
# Engine-portability rules (regopy and OPA must agree; decision_table.yaml proves it):
#   - never negate an expression that mentions input (`not input.x in s`, `not f(input.x)`):
#     OPA makes it undefined when input.x is missing, regopy makes it true. Negate zero-arity
#     helper rules only (`not tenant_ok`), which both engines evaluate the same way;
#   - times are integers in nanoseconds computed by the caller; no time or parsing built-ins;
#   - no object.union (regopy's is not recursive), no `with`, no large literals in rules
#     (regopy rebuilds a literal on every query; data lookups are cheap).
package gateway.authz

import data.gateway.tables

default decision := {"allow": false, "reasons": ["policy_undefined"], "obligations": {}}

decision := {"allow": allow, "reasons": reasons, "obligations": obligations}

default allow := false

# The prohibitions are repeated here so that no permit, present or future, can outweigh them.
# The other deny rules only explain a refusal (a permit already requires their conditions not to
# hold; policies/tests/invariants_test.rego checks that no case has both a permit and a deny),
# so they are evaluated only when the request is refused.
allow if {
	count(permits) > 0
	not prohibited_purpose
	actor_ok
	tenant_ok
}

prohibited_purpose if tables.prohibited_purposes[input.purpose]

reasons := sort([r | some r in permits]) if allow

reasons := sort([r | some r in denies]) if {
	not allow
	count(denies) > 0
}

reasons := ["default_deny"] if {
	not allow
	count(denies) == 0
}

# --- well-formed request ----------------------------------------------------------------------

non_empty_string(x) if {
	is_string(x)
	x != ""
}

actor_ok if {
	tables.actor_kinds[input.actor.kind]
	non_empty_string(input.actor.id)
	non_empty_string(input.actor.tenant)
}

# The system actor may carry no tenant (null or ""): global maintenance; tenant_ok still binds
# every tenant's resource to an actor of that tenant.
actor_ok if {
	input.actor.kind == "system"
	non_empty_string(input.actor.id)
	not actor_tenant_set
}

actor_tenant_set if non_empty_string(input.actor.tenant)

# The action's classes (data.json): mailbox_bound, store_read, gmail, restricted_ok, ...
action := tables.actions[input.action]

action_known if is_object(action)

purpose_permitted if tables.permitted_purposes[input.purpose]

purpose_declared if purpose_permitted

purpose_declared if tables.prohibited_purposes[input.purpose]

# A request good enough to be judged on its merits.
base_ok if {
	actor_ok
	action_known
	purpose_permitted
}

action_capable if tables.capabilities[input.actor.kind][input.action]

capable if tables.capabilities[input.actor.kind][input.action][input.purpose] == true

# Well-formed and capable: the request is refused only for its particulars, which the
# remaining deny rules name.
judged if {
	base_ok
	capable
}

# --- tenant, resource, ownership --------------------------------------------------------------

tenant_ok if {
	non_empty_string(input.actor.tenant)
	input.resource.tenant == input.actor.tenant
}

tenant_ok if {
	input.actor.kind == "system"
	action.system_global == true
	not resource_tenant_set
}

resource_tenant_set if input.resource.tenant != null

mailbox_bound if action.mailbox_bound == true

resource_ok if {
	action_known
	not mailbox_bound
}

resource_ok if {
	mailbox_bound
	non_empty_string(input.resource.mailbox)
	non_empty_string(input.resource.owner)
}

is_owner if {
	non_empty_string(input.actor.id)
	input.resource.owner == input.actor.id
}

# --- mailbox state ----------------------------------------------------------------------------

state_present if input.mailbox_state != null

known_state if tables.mailbox_states[input.mailbox_state]

gmail_action if action.gmail == true

restricted_action if action.restricted_ok == true

disconnected_action if action.disconnected_ok == true

state_ok if {
	action_known
	not mailbox_bound
	not state_present
}

state_ok if input.mailbox_state == "active"

state_ok if {
	input.mailbox_state == "restricted"
	restricted_action
}

# Tokens are dead: nothing may call Gmail; what is already in the store stays readable.
state_ok if {
	input.mailbox_state == "reauth_required"
	action_known
	not gmail_action
}

state_ok if {
	input.mailbox_state == "disconnected"
	disconnected_action
}

# --- scopes -----------------------------------------------------------------------------------

scope_required if action.scopes

scope_ok if {
	action_known
	not scope_required
}

scope_ok if {
	some s in action.scopes
	s in input.scopes
}

# --- the checks every permit needs ------------------------------------------------------------

common_ok if {
	judged
	tenant_ok
	resource_ok
	state_ok
	scope_ok
	transfer_ok
	analytics_ok
}

transfer_ok if {
	action_known
	input.action != "data.transfer"
}

transfer_ok if {
	input.action == "data.transfer"
	valid_transfer
}

analytics_ok if {
	action_known
	input.action != "analytics.aggregate"
}

analytics_ok if {
	input.action == "analytics.aggregate"
	cohort_ok
	group_keys_ok
}

# --- permits (operators: see operators.rego) ----------------------------------------------------

permits contains "allow_owner" if {
	input.actor.kind == "end_user"
	common_ok
	is_owner
}

permits contains "allow_crm_service" if {
	input.actor.kind == "crm_service"
	common_ok
}

permits contains "allow_reviewer" if {
	input.actor.kind == "reviewer"
	common_ok
}

permits contains "allow_analytics" if {
	input.actor.kind == "analytics"
	common_ok
}

permits contains "allow_system" if {
	input.actor.kind == "system"
	common_ok
}

# --- denies: malformed or forbidden whatever the actor ------------------------------------------

denies contains reason if {
	reason := tables.prohibited_purposes[input.purpose]
}

denies contains "actor_invalid" if not actor_ok

denies contains "action_unknown" if not action_known

denies contains "purpose_unknown" if not purpose_declared

# --- denies: a well-formed request that does not qualify ---------------------------------------

denies contains "action_not_permitted" if {
	base_ok
	not action_capable
}

denies contains "purpose_not_permitted" if {
	base_ok
	action_capable
	not capable
}

denies contains "tenant_mismatch" if {
	base_ok
	not tenant_ok
}

denies contains "not_mailbox_owner" if {
	judged
	input.actor.kind == "end_user"
	not is_owner
}

denies contains "resource_invalid" if {
	judged
	not resource_ok
}

denies contains "mailbox_state_unknown" if {
	judged
	mailbox_bound
	not known_state
}

denies contains "mailbox_state_unknown" if {
	judged
	state_present
	not known_state
}

denies contains "mailbox_restricted" if {
	judged
	input.mailbox_state == "restricted"
	not restricted_action
}

denies contains "mailbox_reauth_required" if {
	judged
	input.mailbox_state in {"reauth_required", "disconnected"}
	gmail_action
}

denies contains "mailbox_disconnected" if {
	judged
	input.mailbox_state == "disconnected"
	not gmail_action
	not disconnected_action
}

denies contains "scope_not_granted" if {
	judged
	scope_required
	not scope_ok
}

# --- obligations (only on an allow) ------------------------------------------------------------
# At most one operator permit can fire (their purposes/actions are disjoint), so each obligation
# set is a complete rule keyed on it; a conflict would be an evaluation error (fail closed).

default obligations := {}

obligations := {"min_cohort": input.settings.min_cohort} if {
	input.actor.kind == "analytics"
	allow
}

obligations := {"human_access": true, "grant_id": input.grant.id} if {
	input.actor.kind == "operator"
	allow
	"allow_operator_grant" in permits
}

obligations := {"human_access": true, "redact": tables.operator_redacted_fields} if {
	input.actor.kind == "operator"
	allow
	"allow_operator_metadata_redacted" in permits
}

# Security and legal access is flagged for the reviewers, with its case reference.
obligations := {"human_access": true, "flag_for_review": true, "case_ref": input.justification.case_ref} if {
	input.actor.kind == "operator"
	allow
	"allow_operator_justified" in permits
}

obligations := {"filter_operator": input.actor.id} if {
	input.actor.kind == "operator"
	allow
	input.action == "consent.list"
}

obligations := {"flag_for_review": true} if {
	input.actor.kind == "operator"
	allow
	"allow_operator_transfer" in permits
}
