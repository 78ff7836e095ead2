# The revision of this policy set, returned in every decision (`revision`). Written by
# scripts/compile_policy.sh from the other policy files (gateway/policy/engines/revision.py);
# never edit it by hand: the gateway refuses decisions naming any other revision.
package gateway.authz

policy_revision := "sha256:0cb9f3e30728db5be74f66871f4ca30db3b54d319181ecddc0d1ea1643b21054"
