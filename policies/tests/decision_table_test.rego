# Runs policies/decision_table.yaml (loaded by `opa test policies/` as data.decision_table)
# through the policy, exactly as tests/policy/test_conformance.py runs it through both engines.
package gateway.authz_table_test

import data.gateway.authz

cases := data.decision_table.cases

base_of(c) := data.decision_table.bases[c.base]

base_of(c) := {} if object.get(c, "base", "") == ""

# object.union merges objects recursively; json.remove drops "a/b" paths (see the table header).
case_input(c) := json.remove(
	object.union(base_of(c), object.get(c, "patch", {})),
	object.get(c, "remove", []),
)

decision_for(c) := d if {
	d := authz.decision with input as case_input(c)
}

# Every decision carries the policy set's revision (revision.rego), allow or deny.
matches(got, expect) if {
	got.revision == authz.policy_revision
	got.allow == expect.allow
	sort(got.reasons) == sort(expect.reasons)
	obligations_match(got, expect)
}

obligations_match(_, expect) if not "obligations" in object.keys(expect)

obligations_match(got, expect) if got.obligations == expect.obligations

failures contains {"case": c.name, "got": got, "expected": c.expect} if {
	some c in cases
	got := decision_for(c)
	not matches(got, c.expect)
}

test_decision_table if {
	count(cases) >= 60
	print("decision table failures:", failures)
	count(failures) == 0
}

test_the_revision_is_a_sha256 if {
	startswith(authz.policy_revision, "sha256:")
	count(authz.policy_revision) == 71
}

test_every_case_has_a_name_rule_and_expectation if {
	every c in cases {
		is_string(c.name)
		is_string(c.rule)
		is_boolean(c.expect.allow)
		is_array(c.expect.reasons)
	}
}

# A permit and an explanatory deny never fire together: the decision evaluates the explanatory
# denies only when no permit holds, which is only sound while this holds.
test_no_case_has_both_a_permit_and_a_deny if {
	both := {c.name |
		some c in cases
		inp := case_input(c)
		authz.permit with input as inp
		count(authz.denies) > 0 with input as inp
	}
	print("cases with a permit and a deny:", both)
	count(both) == 0
}

# The permit is one value (an else chain, for speed), which is only sound while at most one
# permit condition holds: recompute them all from the named rules and compare.
permits_of(inp) := {r |
	r := data.gateway.tables.kind_permits[inp.actor.kind]
	authz.common_ok with input as inp
	authz.owner_ok with input as inp
} | {r |
	inp.actor.kind == "operator"
	some r in operator_permits_of(inp)
}

operator_permits_of(inp) := ((({"allow_operator_grant" |
	inp.purpose == "support"
	authz.common_ok with input as inp
	authz.grant_valid with input as inp
} | {"allow_operator_metadata_redacted" |
	inp.purpose == "support"
	authz.operator_metadata_action with input as inp
	authz.common_ok with input as inp
	not authz.grant_valid with input as inp
}) | {"allow_operator_justified" |
	authz.justified_purpose with input as inp
	authz.operator_mail_action with input as inp
	authz.common_ok with input as inp
	authz.justification_ok with input as inp
}) | {"allow_operator_consent" |
	inp.purpose == "consent_management"
	authz.common_ok with input as inp
}) | {"allow_operator_transfer" |
	inp.action == "data.transfer"
	authz.common_ok with input as inp
}

test_the_permit_is_the_only_permit_that_holds if {
	wrong := {c.name: [got, holding] |
		some c in cases
		inp := case_input(c)
		holding := permits_of(inp)
		got := permit_or_none with input as inp
		not one_permit(got, holding)
	}
	print("cases whose permit is not the only one:", wrong)
	count(wrong) == 0
}

# (Not `object.get({"p": authz.permit}, "p", "none")`: an object with an undefined value is
# undefined, which skipped every case without a permit.)
default permit_or_none := "none"

permit_or_none := authz.permit

default fast_permit_or_none := "none"

fast_permit_or_none := authz.fast_permit

one_permit("none", holding) if count(holding) == 0

one_permit(got, holding) if holding == {got}

# Allows carry allow_* reasons only; denies never do.
test_reason_codes_match_the_outcome if {
	every c in cases {
		d := decision_for(c)
		every r in d.reasons {
			startswith(r, "allow_") == d.allow
		}
	}
}

# `particulars` asks for a state problem only when state_ok fails: sound only while state_ok
# rules every state problem out.
test_state_ok_rules_out_every_state_problem if {
	both := {c.name |
		some c in cases
		inp := case_input(c)
		authz.state_ok with input as inp
		authz.state_problem with input as inp
	}
	print("cases with state_ok and a state problem:", both)
	count(both) == 0
}

# fast.rego: in fast_domain, fast_permit is exactly permit (the decision then skips permit);
# outside it, fast_permit never holds.
test_fast_permit_is_permit_in_its_domain if {
	wrong := {c.name: [fast, full] |
		some c in cases
		inp := case_input(c)
		fast := fast_permit_or_none with input as inp
		full := permit_or_none with input as inp
		not fast_agrees(fast, full) with input as inp
	}
	print("cases where fast_permit is not permit:", wrong)
	count(wrong) == 0
}

test_the_table_reaches_both_sides_of_fast_permit if {
	fast := {c.name | some c in cases; authz.fast_permit with input as case_input(c)}
	count(fast) >= 20
	refused := {c.name |
		some c in cases
		authz.fast_domain with input as case_input(c)
		not authz.fast_permit with input as case_input(c)
	}
	count(refused) >= 40
}

fast_agrees(fast, full) if {
	authz.fast_domain
	fast == full
}

fast_agrees("none", _) if not authz.fast_domain
