# The revision of this policy set, returned in every decision (`revision`). Written by
# scripts/compile_policy.sh from the other policy files (gateway/policy/engines/revision.py);
# never edit it by hand: the gateway refuses decisions naming any other revision.
package gateway.authz

policy_revision := "sha256:841b96a20b4247261719ed0d33be204ee5ba4f936df521d82c6a7009510db162"
