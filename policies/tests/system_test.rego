# The OPA server's own API authorization and its decision-log mask (policies/system/).
package system.system_test

import data.system.authz
import data.system.log

runtime := {"env": {"GATEWAY_POLICY_ENGINE_TOKEN": "t0ken-for-tests"}}

decision_request := {
	"method": "POST", "path": ["v0", "data", "gateway", "authz", "decision"],
	"identity": "t0ken-for-tests",
}

test_the_gateway_token_may_ask_the_decision if {
	authz.allow with input as decision_request with opa.runtime as runtime
}

test_the_gateway_may_read_what_it_verifies if {
	authz.allow with input as {"method": "GET", "path": ["v1", "policies"], "identity": "t0ken-for-tests"}
		with opa.runtime as runtime
	authz.allow with input as {"method": "GET", "path": ["v1", "data", "gateway", "tables"], "identity": "t0ken-for-tests"}
		with opa.runtime as runtime
	authz.allow with input as {"method": "GET", "path": ["v1", "data", "system", "bundles"], "identity": "t0ken-for-tests"}
		with opa.runtime as runtime
}

test_another_token_is_refused if {
	not authz.allow with input as object.union(decision_request, {"identity": "guess"})
		with opa.runtime as runtime
}

test_no_token_is_refused if {
	not authz.allow with input as object.remove(decision_request, ["identity"])
		with opa.runtime as runtime
}

test_an_unset_token_lets_nobody_in if {
	not authz.allow with input as decision_request with opa.runtime as {"env": {}}
	not authz.allow with input as object.union(decision_request, {"identity": ""})
		with opa.runtime as {"env": {"GATEWAY_POLICY_ENGINE_TOKEN": ""}}
}

test_the_gateway_token_cannot_write_policies_or_query if {
	not authz.allow with input as {"method": "PUT", "path": ["v1", "policies", "x"], "identity": "t0ken-for-tests"}
		with opa.runtime as runtime
	not authz.allow with input as {"method": "POST", "path": ["v1", "query"], "identity": "t0ken-for-tests"}
		with opa.runtime as runtime
	not authz.allow with input as {"method": "PUT", "path": ["v1", "data", "gateway", "tables"], "identity": "t0ken-for-tests"}
		with opa.runtime as runtime
}

test_health_needs_no_token if {
	authz.allow with input as {"method": "GET", "path": ["health"]} with opa.runtime as {"env": {}}
}

test_decision_logs_erase_the_input if {
	log.mask == {"/input"}
}
