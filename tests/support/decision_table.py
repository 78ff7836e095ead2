"""The decision table (policies/decision_table.yaml): inputs and the decisions they must get.

Used by the conformance tests (both engines) and the benchmark; `opa test policies/` expands the
same cases in Rego (policies/tests/decision_table_test.rego). A case's input is
`remove(union(bases[base], patch), remove)`, with OPA's semantics: `object.union` merges objects
recursively and replaces anything else; `json.remove` drops "a/b" paths that exist.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway.policy.contract import Decision


@dataclass(frozen=True)
class TableCase:
    name: str
    rule: str
    input: dict[str, Any]
    allow: bool
    reasons: tuple[str, ...]  # sorted
    obligations: dict[str, Any] | None  # None: not checked

    def mismatch(self, decision: Decision) -> str | None:
        """Why `decision` is not what this case expects (None when it is)."""
        problems = []
        if decision.allow is not self.allow:
            problems.append(f"allow={decision.allow}, expected {self.allow}")
        if tuple(sorted(decision.reasons)) != self.reasons:
            problems.append(f"reasons={sorted(decision.reasons)}, expected {list(self.reasons)}")
        if self.obligations is not None and dict(decision.obligations) != self.obligations:
            problems.append(f"obligations={dict(decision.obligations)}, "
                            f"expected {self.obligations}")
        return "; ".join(problems) or None


def object_union(a: Any, b: Any) -> Any:
    """OPA's object.union: objects merge recursively, any other value of `b` replaces `a`'s."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        merged = {k: copy.deepcopy(v) for k, v in a.items()}
        for key, value in b.items():
            merged[key] = (object_union(merged[key], value) if key in merged
                           else copy.deepcopy(value))
        return merged
    return copy.deepcopy(b)


def json_remove(document: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """OPA's json.remove for object paths "a/b": removes them where they exist."""
    result = copy.deepcopy(document)
    for path in paths:
        keys = [k for k in path.split("/") if k]
        node: Any = result
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and keys:
            node.pop(keys[-1], None)
    return result


def load_decision_table(path: Path) -> list[TableCase]:
    with Path(path).open(encoding="utf-8") as fh:
        table = yaml.safe_load(fh)["decision_table"]
    bases: dict[str, Any] = table.get("bases", {})
    cases = []
    seen: set[str] = set()
    for raw in table["cases"]:
        name = str(raw["name"])
        if name in seen:
            raise ValueError(f"duplicate decision table case name {name!r}")
        seen.add(name)
        base = bases[raw["base"]] if raw.get("base") else {}
        document = json_remove(object_union(base, raw.get("patch", {})), raw.get("remove", []))
        expect = raw["expect"]
        obligations = expect.get("obligations")
        cases.append(TableCase(
            name=name, rule=str(raw["rule"]), input=document, allow=bool(expect["allow"]),
            reasons=tuple(sorted(str(r) for r in expect["reasons"])),
            obligations=dict(obligations) if obligations is not None else None,
        ))
    return cases
