# The Limited Use policy set: data.gateway.authz.decision.
#
# Shape: an access is allowed when a `permits` rule fires, the purpose is not prohibited, the
# actor is well formed and of the resource's tenant. Every permit checks each of its conditions
# *positively*: a missing or malformed input field makes it undefined, hence no permit, hence
# deny. The `denies` rules explain a refusal with stable reason codes; a permit requires their
# conditions not to hold (tests/decision_table_test.rego checks that no case has both), so
# they are evaluated only when the request is refused.
#
# The vocabulary and the tables (actions and their classes, which actor kind may do what for
# which purpose, required scopes, allowed mailbox states) are in data.json (data.gateway.tables).
#
# Both engines run OPA's compiler (the OPA server; the embedded engine runs these files compiled
# to Wasm: policies/compiled/, rebuilt by scripts/compile_policy.sh after any edit). The embedded
# engine has no host built-ins, so times are integers in nanoseconds computed by the caller.
# The shape below (negating only zero-arity helper rules, `else if` chains for "any of" rules, one
# permit value, explanations only for a refusal, tables in data.json) was chosen for regopy, the
# embedded engine until session 4 (docs/policy.md section 6); it is kept.
package gateway.authz

import data.gateway.tables

default decision := {"allow": false, "reasons": ["policy_undefined"], "obligations": {}}

decision := {"allow": allow, "reasons": reasons, "obligations": obligations}

default allow := false

# `permit` implies all of these (every permit requires common_ok, and capabilities name no
# prohibited purpose); they are repeated so that the allow does not rest on that alone.
allow if {
	permit
	not prohibited_purpose
	actor_ok
	tenant_ok
}

reasons := [permit] if {
	allow
} else := sorted if {
	# (regopy's sort of a set is not an array: sort an array)
	sorted := sort([reason | some reason in denies])
	sorted[0]
} else := ["default_deny"]

# --- well-formed request ----------------------------------------------------------------------

non_empty_string(x) if {
	is_string(x)
	not x == ""
}

# Each input string that must be non-empty is checked once here (rules are cached per query);
# the rules below compare other values with `==` to it, which implies the same of them.
# (non_empty_string inlined: a function call costs regopy a dozen statements)
actor_id_set if {
	id := input.actor.id
	is_string(id)
	not id == ""
}

actor_tenant_set if {
	tenant := input.actor.tenant
	is_string(tenant)
	not tenant == ""
}

mailbox_set if {
	mailbox := input.resource.mailbox
	is_string(mailbox)
	not mailbox == ""
}

owner_set if {
	owner := input.resource.owner
	is_string(owner)
	not owner == ""
}

actor_ok if {
	tables.actor_kinds[input.actor.kind]
	actor_id_set
	actor_tenant_set
} else if {
	# The system actor may carry no tenant (null or ""): global maintenance. tenant_ok still
	# binds every tenant's resource to an actor of that tenant.
	input.actor.kind == "system"
	actor_id_set
	not actor_tenant_set
}

# The action's classes (data.json): mailbox_bound, store_read, gmail, states, scopes, special...
action := tables.actions[input.action]

# Every entry of tables.actions is an object (never false), so `action` being defined is enough:
# no is_object built-in call (each built-in call copies regopy's evaluation state).
action_known if action

purpose_permitted if tables.permitted_purposes[input.purpose]

prohibited_purpose if tables.prohibited_purposes[input.purpose]

purpose_declared if {
	purpose_permitted
} else if {
	prohibited_purpose
}

# A request good enough to be judged on its merits.
base_ok if {
	actor_ok
	action_known
	purpose_permitted
}

# Read through the action's own `capable` entry (data.json), the by-action index of
# tables.capabilities (tests/tables_test.rego and tests/policy/test_vocabulary_sync.py keep the
# two equal): the action is already looked up, and regopy scans object keys one by one, so this
# spares a second walk through a kind's ~30 actions (~8 % of a decision's evaluation).
action_capable if action.capable[input.actor.kind]

# data.json's capabilities name only known kinds, known actions and permitted purposes
# (tests/policy/test_vocabulary_sync.py checks it), so `capable` implies all three.
capable if action.capable[input.actor.kind][input.purpose] == true

# --- tenant, resource, ownership --------------------------------------------------------------

tenant_ok if {
	actor_tenant_set
	input.resource.tenant == input.actor.tenant
} else if {
	input.actor.kind == "system"
	action.system_global == true
	not resource_tenant_set
}

resource_tenant_set if input.resource.tenant != null

mailbox_bound if action.mailbox_bound == true

# A mailbox-bound action names its mailbox and the mailbox's owner (a principal id).
resource_ok if {
	mailbox_bound
	mailbox_set
	owner_set
} else if {
	action_known
	not mailbox_bound
}

is_owner if {
	input.resource.owner == input.actor.id
	actor_id_set
}

# An end user acts only on their own mailbox; the other kinds are bound by tenant (operators:
# by the grant, see operators.rego).
owner_ok if {
	input.actor.kind == "end_user"
	is_owner
} else if {
	kind := input.actor.kind
	not kind == "end_user"
	not kind == "operator"
}

# --- mailbox state ----------------------------------------------------------------------------
# action.states lists the states an action may run in (data.json): every action runs on an active
# mailbox; reauth_required (dead tokens) allows everything that does not call Gmail; restricted
# (the user restricted processing) and disconnected allow export, deletion, lifting the
# restriction, listing/revoking human access, the mailbox's status and key rotation (and, when
# disconnected, reconnecting). An action not bound to a mailbox needs no state.

state_present if input.mailbox_state != null

known_state if tables.mailbox_states[input.mailbox_state]

gmail_action if action.gmail == true

state_allows if action.states[input.mailbox_state] == true

state_ok if {
	state_allows
} else if {
	action_known
	not mailbox_bound
	not state_present
}

# --- scopes (any one of action.scopes must be granted) -----------------------------------------

scope_required if action.scopes

scope_ok if {
	some s in action.scopes
	some granted in input.scopes
	granted == s
} else if {
	action_known
	not scope_required
}

# --- the checks every permit needs ------------------------------------------------------------

common_ok if {
	actor_ok
	capable
	tenant_ok
	resource_ok
	state_ok
	scope_ok
	special_ok
}

has_special if action.special

special_ok if {
	action_known
	not has_special
} else if {
	action.special == "transfer"
	valid_transfer
} else if {
	action.special == "aggregate"
	cohort_ok
	group_keys_ok
}

# --- the permit -----------------------------------------------------------------------------------

# One value: the kinds are disjoint, and so are the operator permits (operators.rego).
# The owner, the CRM service, reviewers, analytics jobs and the system: allowed by the table.
permit := reason if {
	reason := tables.kind_permits[input.actor.kind]
	common_ok
	owner_ok
} else := reason if {
	# Human operators: see operators.rego.
	input.actor.kind == "operator"
	reason := operator_permit
}

# --- denies (explanations, evaluated only for a refusal) ------------------------------------------

# One flat set (nested sets cost regopy a set union per level). A malformed request is told only
# what is malformed; a request that is well formed (base_ok) but not capable only that; the
# particulars only for a capable one (`qualified`).
denies contains reason if {
	reason := tables.prohibited_purposes[input.purpose]
}

denies contains "actor_invalid" if not actor_ok

denies contains "action_unknown" if not action_known

denies contains "purpose_unknown" if not purpose_declared

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

qualified if {
	base_ok
	capable
}

denies contains "not_mailbox_owner" if {
	qualified
	input.actor.kind == "end_user"
	not owner_ok
}

denies contains "resource_invalid" if {
	qualified
	not resource_ok
}

denies contains state_problem if qualified

denies contains "scope_not_granted" if {
	qualified
	not scope_ok
}

denies contains reason if {
	qualified
	input.actor.kind == "operator"
	some reason in operator_problems
}

denies contains reason if {
	qualified
	action.special == "transfer"
	some reason in transfer_problems
}

denies contains reason if {
	qualified
	action.special == "aggregate"
	some reason in aggregate_problems
}

state_expected if {
	mailbox_bound
} else if {
	state_present
}

state_problem := "mailbox_state_unknown" if {
	state_expected
	not known_state
} else := "mailbox_restricted" if {
	input.mailbox_state == "restricted"
	not state_allows
} else := "mailbox_reauth_required" if {
	gmail_action
	not state_allows
	state_present
} else := "mailbox_disconnected" if {
	input.mailbox_state == "disconnected"
	not state_allows
}

# --- obligations (only on an allow) ------------------------------------------------------------

obligations := {} if {
	not allow
} else := operator_obligations if {
	input.actor.kind == "operator"
} else := {"min_cohort": input.settings.min_cohort} if {
	input.actor.kind == "analytics"
} else := {}
