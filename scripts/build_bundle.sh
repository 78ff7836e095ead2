#!/usr/bin/env bash
# Build the signed OPA bundle of policies/ (the policy files, the revision in its manifest) with the
# pinned OPA: what an OPA sidecar loads in production with `--verification-key` (docs/operations.md).
#   scripts/build_bundle.sh --signing-key /secure/policy-signing.pem --output bundle.tar.gz
# Options: --policy-dir DIR, --signing-alg RS256|PS256|ES256|..., --key-id ID.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
ensure_venv
ensure_opa
exec "$VENV/bin/python" -m gateway.policy.engines.bundle "$@"
