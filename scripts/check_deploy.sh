#!/usr/bin/env bash
# Validate the deployment files offline: deploy/compose.yaml against the Compose specification's
# schema, deploy/kubernetes/ with kubeconform (strict), the Dockerfile with hadolint.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
ensure_venv
ensure_kubeconform
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml
"$GATEWAY_KUBECONFORM_BINARY" -strict -summary -kubernetes-version "$GATEWAY_K8S_VERSION" \
  -schema-location "$GATEWAY_K8S_SCHEMAS/{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json" \
  deploy/kubernetes/
"$VENV/bin/hadolint" --failure-threshold warning Dockerfile
