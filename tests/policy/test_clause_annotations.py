"""Every clause in policies/clauses.yaml is carried by a Rego rule's `# METADATA` annotation
(custom.clauses), as `opa inspect -a` reports them, unless the clause names the code outside the
policy that implements it; and every annotation names known clauses only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.policy.conftest import POLICY_DIR

CLAUSES: dict[str, dict[str, str]] = yaml.safe_load(
    (POLICY_DIR / "clauses.yaml").read_text(encoding="utf-8"))["clauses"]


@pytest.fixture(scope="module")
def annotations(opa_binary: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(opa_binary), "inspect", "-a", "-f", "json", str(POLICY_DIR)],
        capture_output=True, text=True, timeout=120, check=True)
    entries: list[dict[str, Any]] = json.loads(result.stdout).get("annotations", [])
    return entries


def rule_name(entry: dict[str, Any]) -> str:
    return ".".join(str(part["value"]) for part in entry["path"][1:])


def clauses_of(entry: dict[str, Any]) -> list[str]:
    custom = entry["annotations"].get("custom") or {}
    clauses: list[str] = custom.get("clauses", [])
    return clauses


def carriers(annotations: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for entry in annotations:
        for clause in clauses_of(entry):
            found.setdefault(clause, set()).add(rule_name(entry))
    return found


@pytest.mark.parametrize("clause", sorted(CLAUSES))
def test_every_clause_is_implemented_by_an_annotated_rule_or_names_its_code(
        clause: str, annotations: list[dict[str, Any]]) -> None:
    rules = carriers(annotations).get(clause, set())
    outside = CLAUSES[clause].get("outside_rego")
    if outside:
        assert not rules, f"{clause} names code outside the policy but is annotated on {rules}"
        assert outside.strip()
    else:
        assert rules, f"no Rego rule carries {clause} in its # METADATA custom.clauses"


def test_annotations_name_known_clauses_with_a_title_and_description(
        annotations: list[dict[str, Any]]) -> None:
    annotated = [entry for entry in annotations if clauses_of(entry)]
    assert annotated, "opa inspect reports no annotated rule"
    for entry in annotated:
        where = f"{entry['location']['file']}:{entry['location']['row']} {rule_name(entry)}"
        assert entry["annotations"]["scope"] == "rule", where
        assert set(clauses_of(entry)) <= set(CLAUSES), where
        assert entry["annotations"].get("title"), where
        assert entry["annotations"].get("description"), where
