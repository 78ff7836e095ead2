# The revision of this policy set, returned in every decision (`revision`). Written by
# scripts/compile_policy.sh from the other policy files (gateway/policy/engines/revision.py);
# never edit it by hand: the gateway refuses decisions naming any other revision.
package gateway.authz

policy_revision := "sha256:c0850ff02dc3e82240af9665b2c016ab8d50765fa63491064f9f967e8e4ed73f"
