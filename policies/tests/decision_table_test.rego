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

matches(got, expect) if {
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

test_every_case_has_a_name_rule_and_expectation if {
	every c in cases {
		is_string(c.name)
		is_string(c.rule)
		is_boolean(c.expect.allow)
		is_array(c.expect.reasons)
	}
}

# A permit and an explanatory deny never fire together: `allow` skips the explanatory denies
# for speed, which is only sound while this holds.
test_no_case_has_both_a_permit_and_a_deny if {
	both := {c.name |
		some c in cases
		inp := case_input(c)
		count(authz.permits) > 0 with input as inp
		count(authz.denies) > 0 with input as inp
	}
	print("cases with a permit and a deny:", both)
	count(both) == 0
}

# Allows carry allow_* reasons only; denies never do.
test_reason_codes_match_the_outcome if {
	every c in cases {
		d := decision_for(c)
		every r in d.reasons {
			startswith(r, "allow_") == d.allow
		}
	}
}
