# Inputs the unit tests start from (object.union patches them), and the decision they get.
# Loaded by `opa test` only.
package gateway.authz_fixtures_test

import data.gateway.authz

# The decision on an input; allowed or not; its reasons as a set.
decide(inp) := d if {
	d := authz.decision with input as inp
}

allowed(inp) if decide(inp).allow == true

reasons(inp) := {r | some r in decide(inp).reasons}

now := 1700000000000000000

hour := 3600000000000

readonly := "https://www.googleapis.com/auth/gmail.readonly"

owner_read := {
	"actor": {"kind": "end_user", "id": "u-alice", "tenant": "t-acme", "groups": []},
	"purpose": "user_facing",
	"action": "mail.message.read_content",
	"resource": {
		"tenant": "t-acme", "mailbox": "mb-alice", "owner": "u-alice", "type": "message",
		"ids": ["m-1"], "thread_id": "th-1", "fields": [],
	},
	"mailbox_state": "active",
	"scopes": [readonly],
	"grant": null,
	"justification": null,
	"transfer": null,
	"aggregate": null,
	"settings": {"min_cohort": 50},
	"now_ns": now,
}

crm_read := object.union(owner_read, {"actor": {"kind": "crm_service", "id": "svc-crm"}})

grant := {
	"id": "g-1",
	"operator": "op-bob",
	"operator_group": null,
	"owner": "u-alice",
	"mailbox": "mb-alice",
	"message_ids": ["m-1"],
	"thread_ids": [],
	"purpose": "support",
	"expires_at_ns": now + hour,
	"revoked": false,
}

operator_read := object.union(owner_read, {
	"actor": {"kind": "operator", "id": "op-bob", "groups": ["support-l1"]},
	"purpose": "support",
	"grant": grant,
})

# A mailbox-wide security justification for op-sec (empty message_ids and thread_ids).
justification := {
	"id": "j-1",
	"kind": "security",
	"case_ref": "SEC-1",
	"operator": "op-sec",
	"operator_group": null,
	"mailbox": "mb-alice",
	"message_ids": [],
	"thread_ids": [],
	"expires_at_ns": now + hour,
	"revoked": false,
}

investigator_read := object.union(owner_read, {
	"actor": {"kind": "operator", "id": "op-sec", "groups": []},
	"purpose": "security",
	"justification": justification,
})

reviewer_query := object.union(owner_read, {
	"actor": {"kind": "reviewer", "id": "rev-1"},
	"purpose": "audit_review",
	"action": "audit.query",
	"resource": {"mailbox": null, "owner": null, "type": "audit_log", "ids": [], "thread_id": null},
	"mailbox_state": null,
	"scopes": [],
})

aggregate := object.union(reviewer_query, {
	"actor": {"kind": "analytics", "id": "job-1"},
	"purpose": "analytics_internal",
	"action": "analytics.aggregate",
	"resource": {"type": "aggregate"},
	"aggregate": {"cohort_size": 50, "group_keys": ["day"]},
})

sync := object.union(owner_read, {
	"actor": {"kind": "system", "id": "sys-sync"},
	"purpose": "sync",
	"action": "mail.sync",
	"resource": {"type": "mailbox", "ids": [], "thread_id": null},
})

transfer := object.union(crm_read, {
	"action": "data.transfer",
	"transfer": {"recipient": "app.example", "ground": "user_feature_consent", "consent_recorded": true},
})
