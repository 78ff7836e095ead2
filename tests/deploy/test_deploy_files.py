"""The deployment files are valid and name only settings the gateway has.

scripts/check_deploy.sh validates them in CI (Compose schema, kubeconform, hadolint); these tests
run the same validators on deliberately broken copies, so a validator that stopped checking would
be noticed, and check what no schema knows: every GATEWAY_* variable is a real setting.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
ENV_NAME = re.compile(r"\bGATEWAY_[A-Z0-9_]+\b")
# Variables the deployment passes to something other than the gateway's settings.
NOT_SETTINGS = {
    "GATEWAY_HOSTNAME",  # the proxy's public name
    # the database's passwords (superuser, owner, app, purge)
    "GATEWAY_POSTGRES_PASSWORD", "GATEWAY_OWNER_DB_PASSWORD", "GATEWAY_APP_DB_PASSWORD",
    "GATEWAY_PURGE_DB_PASSWORD",
    # the roles' connection strings
    "GATEWAY_MIGRATION_DATABASE_URL",
}


def kubeconform() -> list[str]:
    binary = os.environ.get("GATEWAY_KUBECONFORM_BINARY", str(ROOT / ".tools/bin/kubeconform"))
    schemas = os.environ.get("GATEWAY_K8S_SCHEMAS", str(ROOT / ".tools/k8s-schemas"))
    version = os.environ.get("GATEWAY_K8S_VERSION", "1.33.0")
    if not Path(binary).exists():
        pytest.fail("kubeconform is missing: scripts/test.sh installs it (ensure_kubeconform)")
    location = (schemas + "/{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/"
                "{{.ResourceKind}}{{.KindSuffix}}.json")
    return [binary, "-strict", "-summary", "-kubernetes-version", version,
            "-schema-location", location]


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=120,
                          check=False)


def setting_names() -> set[str]:
    return {f"GATEWAY_{name.upper()}" for name in Settings.model_fields}


def test_the_compose_file_matches_the_compose_specification(tmp_path: Path) -> None:
    ok = run(VENV_BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec",
             DEPLOY / "compose.yaml")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    broken["services"]["gateway"]["replicaz"] = 2  # not a Compose key
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken))
    refused = run(VENV_BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec",
                  tmp_path / "compose.yaml")
    assert refused.returncode != 0


def test_the_kubernetes_manifests_validate_strictly(tmp_path: Path) -> None:
    ok = run(*kubeconform(), DEPLOY / "kubernetes")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in ok.stdout
    text = (DEPLOY / "kubernetes" / "gateway.yaml").read_text()
    broken = text.replace("containerPort: 8000", "containerPort: 8000\n              hostPorts: 1")
    (tmp_path / "gateway.yaml").write_text(broken)
    refused = run(*kubeconform(), tmp_path / "gateway.yaml")
    assert refused.returncode != 0 and "hostPorts" in refused.stdout


def test_the_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    ok = run(VENV_BIN / "hadolint", "--failure-threshold", "warning", ROOT / "Dockerfile")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (tmp_path / "Dockerfile").write_text("FROM python\nRUN cd /app && pip install x\n")
    assert run(VENV_BIN / "hadolint", "--failure-threshold", "warning",
               tmp_path / "Dockerfile").returncode != 0


@pytest.mark.parametrize("path", [
    "compose.yaml", "compose/env.example", "kubernetes/config.yaml",
    "kubernetes/secret.example.yaml", "kubernetes/gateway.yaml", "kubernetes/worker.yaml",
    "kubernetes/scheduler.yaml", "kubernetes/migrate-job.yaml",
])
def test_every_gateway_variable_is_a_setting(path: str) -> None:
    named = set(ENV_NAME.findall((DEPLOY / path).read_text()))
    unknown = named - setting_names() - NOT_SETTINGS
    assert not unknown, f"{path} sets variables the gateway does not read: {sorted(unknown)}"


def test_the_compose_roles_are_what_db_roles_prints() -> None:
    from gateway.kit.roles import roles_sql

    assert (DEPLOY / "compose" / "roles.sql").read_text() == roles_sql()


def test_the_deployment_guide_names_every_setting() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text()
    missing = sorted(name for name in setting_names() if f"`{name}`" not in guide)
    assert not missing, f"docs/deploy.md, Settings, lacks {missing}"
