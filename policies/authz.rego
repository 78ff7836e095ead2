# The Limited Use policy set: data.gateway.authz.decision.
#
# Shape: an access is allowed when the `permit` rule gives a value (an allow_* reason), the
# purpose is not prohibited, the actor is well formed and of the resource's tenant. Every permit
# checks each of its conditions *positively*: a missing or malformed input field makes it
# undefined, hence no permit, hence deny. `denies` explains a refusal with stable reason codes; a
# permit requires their conditions not to hold (tests/decision_table_test.rego checks that no
# case has both), so they are evaluated only when the request is refused, and in stages, so a
# malformed request is not judged on its particulars.
#
# The vocabulary and the tables (actions and their classes, which actor kind may do what for
# which purpose, required scopes, allowed mailbox states) are in data.json (data.gateway.tables).
#
# Both engines run OPA's compiler: the OPA server evaluates these files with OPA's evaluator
# (topdown); the embedded engine runs them compiled to Wasm (policies/compiled/, rebuilt by
# scripts/compile_policy.sh after any edit), which has no host built-ins, so times are integers
# in nanoseconds computed by the caller.
#
# Each rule that implements a Limited Use rule or a privacy-policy clause names it in its
# `# METADATA` annotation (custom.clauses, ids in clauses.yaml).
package gateway.authz

import data.gateway.tables

# Never reached (the `else` chain ends in an unconditional default_deny); a default value cannot
# name the revision, so the gateway would refuse this one as policy_revision_mismatch.
# METADATA
# scope: document
# title: The Limited Use decision
# description: >-
#   What the gateway asks on every access: allow, reasons, obligations and this policy set's
#   revision (docs/policy.md).
# entrypoint: true
default decision := {"allow": false, "reasons": ["policy_undefined"], "obligations": {}}

# One rule, one path: a permit gives the allow with its obligations; anything else is a refusal
# explained by `denies`. Every decision carries `revision`, this policy set's own revision
# (revision.rego): the gateway accepts a decision only when it is the revision it runs.
# The usual permits (owner, CRM service, reviewer: fast_permit in fast.rego, generated from
# `permit` for OPA's evaluator) are asked first and are exactly `permit` in fast_domain, with no
# obligations; `permit` decides the rest. `permit` implies the three checks after it (every
# permit requires common_ok, and capabilities name no prohibited purpose); they are repeated so
# that the allow does not rest on that alone.
# METADATA
# title: Deny by default; never for a prohibited purpose
# scope: rule
# description: >-
#   An access is allowed only by a permit, and never for a prohibited purpose (data.json
#   prohibited_purposes): advertising, retargeting, personalised ads and transfer to ad
#   platforms; sale and transfer to data brokers; credit scoring and lending; training or
#   improving AI models. Every action is decided here, those on aggregated or derived data
#   included.
# custom:
#   clauses:
#     - lu.advertising
#     - lu.sale
#     - lu.credit
#     - lu.ai_training
decision := {"allow": true, "reasons": [reason], "obligations": {}, "revision": policy_revision} if {
	tables.fast_kinds[input.actor.kind]
	reason := fast_permit
} else := {
	"allow": true, "reasons": [reason],
	"obligations": permit_obligations(reason), "revision": policy_revision,
} if {
	not fast_domain
	reason := permit
	not prohibited_purpose
	actor_ok
	tenant_ok
} else := {"allow": false, "reasons": explained, "obligations": {}, "revision": policy_revision} if {
	explained := sort(denies)
	explained[0]
} else := {"allow": false, "reasons": ["default_deny"], "obligations": {}, "revision": policy_revision}

# The decision's parts, by name (tests, `opa eval`).
allow := decision.allow

reasons := decision.reasons

obligations := decision.obligations

# --- well-formed request ----------------------------------------------------------------------

non_empty_string(x) if {
	is_string(x)
	not x == ""
}

actor_id_set if non_empty_string(input.actor.id)

actor_tenant_set if non_empty_string(input.actor.tenant)

mailbox_set if non_empty_string(input.resource.mailbox)

owner_set if non_empty_string(input.resource.owner)

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

# Every entry of tables.actions is an object (never false), so `action` being defined is enough
# (tests/tables_test.rego).
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

# data.json's capabilities (actor kind -> action -> purposes) name only known kinds, known
# actions and permitted purposes (tests/policy/test_vocabulary_sync.py checks it), so `capable`
# implies all three.
# METADATA
# title: The actor kind may serve this purpose with this action
# description: >-
#   The capabilities (data.json) bind each actor kind and action to the purposes it may serve:
#   the owner and the CRM service act on mail for user-facing features only (user_facing,
#   contact_linking); no capability names a prohibited purpose. Every permit requires it.
# custom:
#   clauses:
#     - lu.user_facing
capable if tables.capabilities[input.actor.kind][input.action][input.purpose] == true

# The actor's kind may do the action, for some purpose.
action_capable if tables.capabilities[input.actor.kind][input.action]

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
	actor_id_set
	input.resource.owner == input.actor.id
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

# METADATA
# title: The mailbox's state allows the action
# description: >-
#   A mailbox whose owner restricted processing (restricted), or disconnected it, allows only
#   export, deletion, lifting the restriction, listing and revoking human access, the mailbox's
#   status and key rotation (data.json actions.*.states): export and deletion are allowed in
#   every state.
# custom:
#   clauses:
#     - pp.user_rights
#     - pp.deletion
state_ok if {
	state_allows
} else if {
	action_known
	not mailbox_bound
	not state_present
}

# --- scopes (any one of action.scopes must be granted) -----------------------------------------

scopes_required if action.scopes

scope_ok if {
	some scope in input.scopes
	scope in action.scopes
} else if {
	action_known
	not scopes_required
}

# --- the checks every permit needs ------------------------------------------------------------

common_ok if {
	capable
	actor_ok
	tenant_ok
	resource_ok
	state_ok
	scope_ok
	special_ok
}

# METADATA
# title: Transfers and aggregates pass their own checks
# description: >-
#   A transfer needs a valid ground (transfer.rego); an aggregate, a cohort of at least k users
#   and non-identifying group keys (analytics.rego). Data derived from mail is judged like the
#   mail.
# custom:
#   clauses:
#     - lu.transfer
#     - lu.analytics
#     - lu.derived
special_ok if {
	action_known
	not special
} else if {
	special == "transfer"
	valid_transfer
} else if {
	special == "aggregate"
	cohort_ok
	group_keys_ok
}

# The action's special checks, if any: "transfer" or "aggregate".
special := action.special

# --- the permit -----------------------------------------------------------------------------------

# One value: the kinds are disjoint, and so are the operator permits (operators.rego).
# The owner, the CRM service, reviewers, analytics jobs and the system: allowed by the table.
# METADATA
# title: The permits by actor kind, and the operator's
# description: >-
#   The owner, the CRM service, reviewers, analytics jobs and the system are allowed by their
#   kind's permit when every common check holds (capabilities, tenant, resource, mailbox state,
#   scopes, special checks) and an end user owns the mailbox; human operators only by
#   operator_permit.
# custom:
#   clauses:
#     - lu.user_facing
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

# In stages, each told only its own problems: a request that is not well formed (base_ok: a valid
# actor, a known action, a permitted purpose) is told what is malformed or prohibited; a
# well-formed one whether its actor may do this at all and the tenant; only a capable one the
# particulars. A purpose is never both permitted and prohibited (tests/tables_test.rego), so a
# well-formed request has no prohibited purpose to be told about.
denies := judged_problems if {
	base_ok
} else := malformed

# METADATA
# title: A prohibited purpose is refused with its reason
# scope: rule
# description: >-
#   The refusal names the prohibited purpose's class: purpose_prohibited_advertising,
#   purpose_prohibited_sale, purpose_prohibited_credit or purpose_prohibited_ai_training.
# custom:
#   clauses:
#     - lu.advertising
#     - lu.sale
#     - lu.credit
#     - lu.ai_training
malformed contains tables.prohibited_purposes[input.purpose]

malformed contains "actor_invalid" if not actor_ok

malformed contains "action_unknown" if not action_known

malformed contains "purpose_unknown" if not purpose_declared

judged_problems contains "action_not_permitted" if not action_capable

judged_problems contains "purpose_not_permitted" if {
	action_capable
	not capable
}

judged_problems contains "tenant_mismatch" if not tenant_ok

judged_problems contains reason if {
	capable
	some reason in particulars
}

particulars contains "not_mailbox_owner" if {
	input.actor.kind == "end_user"
	not is_owner # owner_ok, for an end user
}

particulars contains "resource_invalid" if not resource_ok

particulars contains state_problem if not state_ok # (state_ok implies no state_problem)

particulars contains "scope_not_granted" if not scope_ok

particulars contains reason if {
	input.actor.kind == "operator"
	some reason in operator_problems
}

particulars contains reason if {
	special == "transfer"
	some reason in transfer_problems
}

particulars contains reason if {
	special == "aggregate"
	some reason in aggregate_problems
}

state_expected if {
	mailbox_bound
} else if {
	state_present
}

# METADATA
# title: Why the mailbox's state refuses the action
# description: >-
#   A restricted mailbox refuses everything but the user's rights (mailbox_restricted); a
#   disconnected one likewise (mailbox_disconnected); dead tokens refuse what calls Gmail
#   (mailbox_reauth_required).
# custom:
#   clauses:
#     - pp.user_rights
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

# --- obligations (only on an allow, by its permit) -------------------------------------------------

# METADATA
# title: The obligations that come with an allow
# description: >-
#   An analytics allow carries the minimum cohort the caller must enforce; an operator's allow
#   carries its human-access obligations (operator_obligations).
# custom:
#   clauses:
#     - lu.analytics
#     - lu.human_reading
permit_obligations(reason) := {"min_cohort": input.settings.min_cohort} if {
	reason == "allow_analytics"
} else := operator_obligations(reason) if {
	input.actor.kind == "operator"
} else := {}
