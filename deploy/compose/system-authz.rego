# OPA's own authorization policy (`opa run --authorization=basic`): only a caller presenting the
# shared token may query it; the token comes from OPA's environment, never from the bundle.
package system.authz

default allow := false

allow if {
	input.identity == opa.runtime().env.GATEWAY_POLICY_ENGINE_TOKEN
}
