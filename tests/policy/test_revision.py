"""The policy revision: a hash of the policy files (non-test modules and data.json)."""

from __future__ import annotations

import shutil
from pathlib import Path

from gateway.policy.engines.revision import (
    load_policy_files,
    merged_data,
    policy_revision,
    rego_modules,
)
from tests.policy.conftest import POLICY_DIR


def copy_policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target)
    return target


def test_stable_and_independent_of_location(tmp_path: Path) -> None:
    assert policy_revision(POLICY_DIR) == policy_revision(copy_policies(tmp_path))


def test_tests_and_the_decision_table_are_not_policy(tmp_path: Path) -> None:
    copy = copy_policies(tmp_path)
    (copy / "tests" / "extra_test.rego").write_text("package x_test\n\ntest_x if true\n")
    (copy / "decision_table.yaml").write_text("decision_table: {bases: {}, cases: []}\n")
    assert policy_revision(copy) == policy_revision(POLICY_DIR)
    paths = {f.path for f in load_policy_files(copy)}
    assert "data.json" in paths
    assert not any(p.endswith("_test.rego") or p.endswith(".yaml") for p in paths)


def test_any_change_to_a_module_or_the_data_changes_it(tmp_path: Path) -> None:
    copy = copy_policies(tmp_path)
    original = policy_revision(copy)
    authz = copy / "authz.rego"
    authz.write_text(authz.read_text() + "\n# a comment\n")
    after_module = policy_revision(copy)
    assert after_module != original
    data = copy / "data.json"
    data.write_text(data.read_text().replace('"min_cohort"', '"min_cohort"') + " ")
    assert policy_revision(copy) != after_module


def test_the_path_is_part_of_it(tmp_path: Path) -> None:
    copy = copy_policies(tmp_path)
    original = policy_revision(copy)
    (copy / "authz.rego").rename(copy / "authz2.rego")
    assert policy_revision(copy) != original


def test_data_is_mounted_as_opa_does(tmp_path: Path) -> None:
    files = load_policy_files(POLICY_DIR)
    assert "tables" in merged_data(files)["gateway"]
    assert {m.path for m in rego_modules(files)} >= {"authz.rego", "operators.rego"}
    (tmp_path / "p.rego").write_text("package a\n\nx := 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.json").write_text('{"k": 1}')
    assert merged_data(load_policy_files(tmp_path)) == {"sub": {"k": 1}}
