# Who may ask the OPA server what, when it runs with `--authentication=token` (or `tls`) and
# `--authorization=basic` (docs/operations.md, "The OPA sidecar"). OPA puts the caller's bearer
# token (or its client certificate's subject) in input.identity; the gateway's token is
# GATEWAY_POLICY_ENGINE_TOKEN in OPA's own environment, the same secret the gateway sends (its
# setting of that name). Unset or empty: nobody is let in but the health probe.
#
# The gateway is let in for what it does, and nothing else: ask the decision, list the policies,
# read the tables it compares with its own copy and the bundles' manifests. No policy or data writes, no ad-hoc queries.
package system.authz

default allow := false

# Liveness and readiness probes, without credentials.
allow if {
	input.method == "GET"
	input.path == ["health"]
}

allow if {
	gateway_caller
	gateway_request
}

gateway_caller if {
	token := opa.runtime().env.GATEWAY_POLICY_ENGINE_TOKEN
	non_empty_string(token)
	input.identity == token
}

gateway_caller if {
	subject := opa.runtime().env.GATEWAY_POLICY_ENGINE_CLIENT_SUBJECT
	non_empty_string(subject)
	input.identity == subject
}

non_empty_string(x) if {
	is_string(x)
	not x == ""
}

gateway_request if {
	input.method == "POST"
	input.path == ["v0", "data", "gateway", "authz", "decision"]
}

gateway_request if {
	input.method == "POST"
	input.path == ["v1", "data", "gateway", "authz", "decision"]
}

gateway_request if {
	input.method == "GET"
	input.path == ["v1", "policies"]
}

# The bundles OPA activated, with their manifest revisions (production checks one is ours).
gateway_request if {
	input.method == "GET"
	input.path == ["v1", "data", "system", "bundles"]
}

gateway_request if {
	input.method == "GET"
	array.slice(input.path, 0, 4) == ["v1", "data", "gateway", "tables"]
}
