# Unit tests: the decision's shape, well-formedness, tenant, ownership, purposes, scopes, states.
package gateway.authz_test

import data.gateway.authz
import data.gateway.authz_fixtures_test as f

# --- the decision -----------------------------------------------------------------------------

test_decision_has_allow_reasons_obligations if {
	d := f.decide(f.owner_read)
	d.allow == true
	d.reasons == ["allow_owner"]
	d.obligations == {}
}

test_default_deny_when_nothing_matches if {
	d := f.decide({})
	d.allow == false
	count(d.reasons) > 0
	d.obligations == {}
}

test_allow_requires_no_prohibited_purpose_even_with_a_permit if {
	not authz.allow with input as f.owner_read with authz.permit as "allow_owner"
		with input.purpose as "advertising"
}

test_allow_requires_tenant_even_with_a_permit if {
	not authz.allow with input as object.union(f.owner_read, {"resource": {"tenant": "t-x"}})
		with authz.permit as "allow_owner"
}

test_allow_requires_a_permit if {
	authz.allow with input as f.owner_read
	not authz.allow with input as object.union(f.owner_read, {"resource": {"owner": "u-bob"}})
}

test_reasons_fall_back_to_default_deny if {
	authz.reasons == ["default_deny"] with authz.allow as false with authz.denies as set()
}

# --- well-formed request ----------------------------------------------------------------------

test_actor_ok if authz.actor_ok with input as f.owner_read

test_actor_unknown_kind if {
	not authz.actor_ok with input as object.union(f.owner_read, {"actor": {"kind": "root"}})
	"actor_invalid" in f.reasons(object.union(f.owner_read, {"actor": {"kind": "root"}}))
}

test_actor_without_id if not authz.actor_ok with input as json.remove(f.owner_read, ["actor/id"])

test_actor_with_numeric_id if {
	not authz.actor_ok with input as object.union(f.owner_read, {"actor": {"id": 7}})
}

test_system_actor_may_have_no_tenant if {
	authz.actor_ok with input as object.union(f.sync, {"actor": {"tenant": null}})
	authz.actor_ok with input as object.union(f.sync, {"actor": {"tenant": ""}})
	not authz.actor_ok with input as object.union(f.owner_read, {"actor": {"tenant": ""}})
}

test_action_known if {
	authz.action_known with input as f.owner_read
	not authz.action_known with input as object.union(f.owner_read, {"action": "mail.nuke"})
	not authz.action_known with input as json.remove(f.owner_read, ["action"])
	f.reasons(object.union(f.owner_read, {"action": "mail.nuke"})) == {"action_unknown"}
}

test_purpose_declared if {
	authz.purpose_declared with input as f.owner_read
	authz.purpose_declared with input as object.union(f.owner_read, {"purpose": "lending"})
	not authz.purpose_declared with input as object.union(f.owner_read, {"purpose": "fun"})
	f.reasons(object.union(f.owner_read, {"purpose": "fun"})) == {"purpose_unknown"}
}

test_capable if {
	authz.capable with input as f.owner_read
	not authz.capable with input as object.union(f.owner_read, {"purpose": "sync"})
	f.reasons(object.union(f.owner_read, {"purpose": "sync"})) == {"purpose_not_permitted"}
	f.reasons(object.union(f.owner_read, {"action": "audit.verify"})) == {"action_not_permitted"}
}

# --- prohibited purposes ----------------------------------------------------------------------

prohibited := {
	"advertising": "purpose_prohibited_advertising",
	"retargeting": "purpose_prohibited_advertising",
	"personalised_ads": "purpose_prohibited_advertising",
	"ad_platform_transfer": "purpose_prohibited_advertising",
	"data_sale": "purpose_prohibited_sale",
	"data_broker_transfer": "purpose_prohibited_sale",
	"credit_scoring": "purpose_prohibited_credit",
	"lending": "purpose_prohibited_credit",
	"ai_training": "purpose_prohibited_ai_training",
	"ai_model_improvement": "purpose_prohibited_ai_training",
}

test_every_prohibited_purpose_is_denied_for_every_actor if {
	every purpose, reason in prohibited {
		every base in [f.owner_read, f.crm_read, f.operator_read, f.investigator_read, f.reviewer_query, f.aggregate, f.sync, f.transfer] {
			inp := object.union(base, {"purpose": purpose})
			not f.allowed(inp)
			f.reasons(inp) == {reason}
		}
	}
}

test_prohibited_table_matches_data if {
	prohibited == data.gateway.tables.prohibited_purposes
}

test_no_capability_names_a_prohibited_purpose if {
	every _, actions in data.gateway.tables.capabilities {
		every _, purposes in actions {
			every p, _ in purposes {
				not data.gateway.tables.prohibited_purposes[p]
			}
		}
	}
}

# --- tenant, resource, ownership --------------------------------------------------------------

test_tenant_ok if authz.tenant_ok with input as f.owner_read

test_tenant_mismatch if {
	inp := object.union(f.crm_read, {"resource": {"tenant": "t-other"}})
	not authz.tenant_ok with input as inp
	f.reasons(inp) == {"tenant_mismatch"}
}

test_tenant_missing_is_a_mismatch if {
	f.reasons(json.remove(f.crm_read, ["resource/tenant"])) == {"tenant_mismatch"}
}

test_null_tenants_do_not_match if {
	inp := object.union(f.sync, {"actor": {"tenant": null}, "resource": {"tenant": null}})
	not authz.tenant_ok with input as inp
	not f.allowed(inp)
}

test_system_global_actions_need_no_tenant if {
	inp := object.union(f.sync, {
		"actor": {"tenant": null}, "action": "keys.rotate", "purpose": "security",
		"resource": {"tenant": null, "mailbox": null, "owner": null}, "mailbox_state": null,
	})
	authz.tenant_ok with input as inp
	f.allowed(inp)
}

test_resource_ok if {
	authz.resource_ok with input as f.owner_read
	not authz.resource_ok with input as object.union(f.crm_read, {"resource": {"mailbox": ""}})
	f.reasons(object.union(f.crm_read, {"resource": {"mailbox": ""}})) == {"resource_invalid"}
}

test_resource_ok_for_actions_without_a_mailbox if authz.resource_ok with input as f.reviewer_query

test_is_owner if {
	authz.is_owner with input as f.owner_read
	inp := object.union(f.owner_read, {"resource": {"owner": "u-carol"}})
	not authz.is_owner with input as inp
	f.reasons(inp) == {"not_mailbox_owner"}
}

test_crm_service_needs_no_ownership if f.allowed(object.union(f.crm_read, {"resource": {"owner": "u-carol"}}))

# --- scopes -----------------------------------------------------------------------------------

modify := "https://www.googleapis.com/auth/gmail.modify"

send := "https://www.googleapis.com/auth/gmail.send"

labels := "https://www.googleapis.com/auth/gmail.labels"

compose := "https://www.googleapis.com/auth/gmail.compose"

with_action(action, scopes) := object.union(f.owner_read, {"action": action, "scopes": scopes})

test_read_needs_readonly_or_modify if {
	f.allowed(with_action("mail.message.read_content", [f.readonly]))
	f.allowed(with_action("mail.message.read_content", [modify]))
	not f.allowed(with_action("mail.message.read_content", [send, labels]))
	f.reasons(with_action("mail.message.read_content", [send])) == {"scope_not_granted"}
}

test_send_needs_send_compose_or_modify if {
	f.allowed(with_action("mail.message.send", [send]))
	f.allowed(with_action("mail.message.send", [compose]))
	f.allowed(with_action("mail.message.send", [modify]))
	not f.allowed(with_action("mail.message.send", [f.readonly, labels]))
}

test_label_modify_needs_labels_or_modify if {
	f.allowed(with_action("mail.label.modify", [labels]))
	f.allowed(with_action("mail.label.modify", [modify]))
	not f.allowed(with_action("mail.label.modify", [f.readonly]))
}

test_message_modify_needs_modify if {
	f.allowed(with_action("mail.message.modify", [modify]))
	not f.allowed(with_action("mail.message.modify", [labels, f.readonly, send]))
}

test_draft_write_needs_compose_or_modify if {
	f.allowed(with_action("mail.draft.write", [compose]))
	not f.allowed(with_action("mail.draft.write", [send]))
}

test_label_read_with_labels_scope if f.allowed(with_action("mail.label.read", [labels]))

test_no_scope_needed_for_rights_and_consent if {
	f.allowed(object.union(with_action("data.export", []), {"purpose": "user_rights"}))
	f.allowed(object.union(with_action("consent.grant.create", []), {"purpose": "consent_management"}))
}

test_scopes_not_a_list if not f.allowed(object.union(f.owner_read, {"scopes": f.readonly}))

# --- mailbox state ----------------------------------------------------------------------------

in_state(inp, state) := object.union(inp, {"mailbox_state": state})

test_active_allows if authz.state_ok with input as f.owner_read

test_restricted_allows_export_delete_restrict_only if {
	every action in ["data.export", "data.delete", "data.restrict"] {
		f.allowed(in_state(object.union(f.owner_read, {"action": action, "purpose": "user_rights"}), "restricted"))
	}
	every action in ["mail.message.read_content", "mail.message.list", "mail.search"] {
		f.reasons(in_state(object.union(f.owner_read, {"action": action}), "restricted")) == {"mailbox_restricted"}
	}
	f.reasons(in_state(with_action("mail.message.send", [send]), "restricted")) == {"mailbox_restricted"}
}

test_restricted_still_lists_and_revokes_consent if {
	f.allowed(in_state(object.union(f.owner_read, {"action": "consent.list", "purpose": "consent_management"}), "restricted"))
	f.allowed(in_state(object.union(f.owner_read, {"action": "consent.grant.revoke", "purpose": "consent_management"}), "restricted"))
	f.reasons(in_state(object.union(f.owner_read, {"action": "consent.grant.create", "purpose": "consent_management"}), "restricted")) == {"mailbox_restricted"}
}

test_reauth_required_reads_store_but_not_gmail if {
	f.allowed(in_state(f.owner_read, "reauth_required"))
	f.reasons(in_state(with_action("mail.message.send", [send]), "reauth_required")) == {"mailbox_reauth_required"}
	f.reasons(in_state(f.sync, "reauth_required")) == {"mailbox_reauth_required"}
}

test_disconnected if {
	f.reasons(in_state(f.owner_read, "disconnected")) == {"mailbox_disconnected"}
	f.reasons(in_state(with_action("mail.label.modify", [labels]), "disconnected")) == {"mailbox_reauth_required"}
	f.allowed(in_state(object.union(f.owner_read, {"action": "data.delete", "purpose": "user_rights"}), "disconnected"))
	f.allowed(in_state(object.union(f.owner_read, {"action": "oauth.connect", "scopes": []}), "disconnected"))
}

test_unknown_or_missing_state if {
	f.reasons(in_state(f.owner_read, "paused")) == {"mailbox_state_unknown"}
	f.reasons(in_state(f.owner_read, null)) == {"mailbox_state_unknown"}
	f.reasons(json.remove(f.owner_read, ["mailbox_state"])) == {"mailbox_state_unknown"}
}

test_garbage_state_on_an_action_without_mailbox if {
	f.reasons(in_state(f.reviewer_query, "paused")) == {"mailbox_state_unknown"}
}

# --- reviewers --------------------------------------------------------------------------------

test_reviewer_queries_and_verifies if {
	f.allowed(f.reviewer_query)
	f.allowed(object.union(f.reviewer_query, {"action": "audit.verify"}))
	f.decide(f.reviewer_query).reasons == ["allow_reviewer"]
}

test_reviewer_only_for_audit_review if {
	f.reasons(object.union(f.reviewer_query, {"purpose": "security"})) == {"purpose_not_permitted"}
	f.reasons(object.union(f.owner_read, {"actor": {"kind": "reviewer", "id": "rev-1"}, "purpose": "audit_review"})) == {"action_not_permitted"}
	f.reasons(object.union(f.reviewer_query, {"action": "audit.purge", "purpose": "legal"})) == {"action_not_permitted"}
}

test_only_reviewers_query_the_log if {
	every kind in ["crm_service", "operator", "analytics", "system"] {
		f.reasons(object.union(f.reviewer_query, {"actor": {"kind": kind}})) == {"action_not_permitted"}
	}

	# An end user may read only their own mailbox's access log, never review the tenant's.
	f.reasons(object.union(f.reviewer_query, {"actor": {"kind": "end_user"}})) == {"purpose_not_permitted"}
}

# --- system -------------------------------------------------------------------------------------

test_system_syncs if {
	f.allowed(f.sync)
	f.decide(f.sync).reasons == ["allow_system"]
	f.reasons(object.union(f.sync, {"mailbox_state": "restricted"})) == {"mailbox_restricted"}
	f.reasons(object.union(f.sync, {"scopes": []})) == {"scope_not_granted"}
	f.reasons(object.union(f.sync, {"purpose": "support"})) == {"purpose_not_permitted"}
}

test_system_maintenance if {
	rotate := object.union(f.sync, {"action": "keys.rotate", "purpose": "security"})
	f.allowed(rotate)
	f.allowed(object.union(rotate, {"mailbox_state": "restricted"}))
	purge := object.union(f.reviewer_query, {"actor": {"kind": "system", "id": "sys-ret", "tenant": null}, "action": "audit.purge", "purpose": "legal", "resource": {"tenant": null}})
	f.allowed(purge)
	f.reasons(object.union(purge, {"purpose": "security"})) == {"purpose_not_permitted"}
}

test_system_runs_exports_and_deletions if {
	f.allowed(object.union(f.sync, {"action": "data.export", "purpose": "user_rights"}))
	f.allowed(object.union(f.sync, {"action": "data.delete", "purpose": "user_rights", "mailbox_state": "restricted"}))
}

test_system_never_reads_content_or_sends if {
	every action in ["mail.message.read_content", "mail.message.send", "mail.search", "analytics.aggregate", "audit.query"] {
		f.reasons(object.union(f.sync, {"action": action})) == {"action_not_permitted"}
	}
}
