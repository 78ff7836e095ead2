# The revision of this policy set, returned in every decision (`revision`). Written by
# scripts/compile_policy.sh from the other policy files (gateway/policy/engines/revision.py);
# never edit it by hand: the gateway refuses decisions naming any other revision.
package gateway.authz

policy_revision := "sha256:f5ef0a2f20d02b15902020529900d93da9dd5884ce29d60b9d7ace89128aeba4"
