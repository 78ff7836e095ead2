# The revision of this policy set, returned in every decision (`revision`). Written by
# scripts/compile_policy.sh from the other policy files (gateway/policy/engines/revision.py);
# never edit it by hand: the gateway refuses decisions naming any other revision.
package gateway.authz

policy_revision := "sha256:877a42009055a2fc0e63c9aa6e4f728d28bffcfbd392b32a472e665f968307e2"
