"""The tests that prove each clause, and their result in a named test run.

Which tests: those carrying the pytest marker `clause` (`@pytest.mark.clause("lu.advertising")`
on a test, or `pytestmark` on its module), found two ways:
- in a pytest JUnit XML (`--junit FILE`): tests/conftest.py writes each marked test's clauses
  as `<property name="clause" .../>`, so the run itself says what it proved and how it ended;
- in the test sources (a `tests/` directory next to the policies, when there is one), read
  without importing them: a marked test the run did not include is listed as "not run".

The report embeds the JUnit XML it read (base64, with its SHA-256) and names the run by the
XML's suite name, timestamp, host and totals.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

MARKER = "clause"


def _clauses_of(decorators: list[ast.expr]) -> list[str]:
    found: list[str] = []
    for node in decorators:
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == MARKER):
            found += [a.value for a in node.args
                      if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return found


def _module_marks(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            value = node.value
            items = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
            return _clauses_of(list(items))
    return []


def scan_sources(tests_dir: Path) -> dict[str, list[str]]:
    """{"tests/x/test_y.py::test_z": [clause, ...]} for every marked test function."""
    marked: dict[str, list[str]] = {}
    root = tests_dir.parent
    for path in sorted(tests_dir.rglob("test_*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        module = _module_marks(tree)
        rel = path.relative_to(root).as_posix()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                clauses = module + _clauses_of(node.decorator_list)
                if clauses:
                    marked[f"{rel}::{node.name}"] = sorted(set(clauses))
    return marked


def _test_id(classname: str, name: str) -> str:
    """JUnit's `tests.audit.test_api` + `test_x[pg]` → `tests/audit/test_api.py::test_x`."""
    parts = classname.split(".")
    # A test in a class: `tests.audit.test_api.TestX`; keep the module part.
    while parts and not parts[-1].startswith("test_"):
        parts.pop()
    return "/".join(parts) + ".py::" + name.split("[")[0]


def _outcome(case: ET.Element) -> str:
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        if case.find(tag) is not None:
            return outcome
    return "passed"


def read_junit(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The run (named) and, per test id, its outcome and the clauses its properties name.
    A parametrized test's outcome is the worst of its cases."""
    raw = path.read_bytes()
    root = ET.fromstring(raw)  # noqa: S314 - pytest's own output, chosen by the reviewer
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    run: dict[str, Any] = {"file": path.name, "sha256": hashlib.sha256(raw).hexdigest(),
                           "suites": [], "embedded_base64": base64.b64encode(raw).decode()}
    tests: dict[str, dict[str, Any]] = {}
    rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
    for suite in suites:
        run["suites"].append({key: suite.get(key) for key in (
            "name", "timestamp", "hostname", "tests", "failures", "errors", "skipped", "time")})
        for case in suite.iter("testcase"):
            test_id = _test_id(case.get("classname", ""), case.get("name", ""))
            clauses = [p.get("value", "") for p in case.iter("property")
                       if p.get("name") == MARKER]
            outcome = _outcome(case)
            known = tests.setdefault(test_id, {"outcome": outcome, "clauses": [], "cases": 0})
            known["cases"] += 1
            known["clauses"] = sorted(set(known["clauses"]) | set(clauses))
            if rank[outcome] > rank[known["outcome"]]:
                known["outcome"] = outcome
    return run, tests


def tests_by_clause(tests_dir: Path | None, junit: Path | None
                    ) -> tuple[dict[str, Any] | None, dict[str, list[dict[str, Any]]]]:
    """The named run (or None) and {clause: [{"test", "outcome"}]}."""
    marked = scan_sources(tests_dir) if tests_dir is not None and tests_dir.is_dir() else {}
    run: dict[str, Any] | None = None
    results: dict[str, dict[str, Any]] = {}
    if junit is not None:
        run, results = read_junit(junit)
    clauses_of: dict[str, set[str]] = defaultdict(set)
    for test_id, clauses in marked.items():
        clauses_of[test_id] |= set(clauses)
    for test_id, result in results.items():
        clauses_of[test_id] |= set(result["clauses"])
    by_clause: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for test_id in sorted(clauses_of):
        outcome = results[test_id]["outcome"] if test_id in results else "not run"
        for clause in sorted(clauses_of[test_id]):
            by_clause[clause].append({"test": test_id, "outcome": outcome})
    return run, dict(sorted(by_clause.items()))
