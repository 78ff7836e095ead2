"""The policy rules behind each clause, from the Rego `# METADATA` annotations
(`custom.clauses`), as `opa inspect -a -f json` reports them, with the policy revision."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

from gateway.policy.engines.opa_binary import find_opa_binary
from gateway.policy.engines.revision import declared_revision, load_policy_files, revision_of


class RulesUnavailable(Exception):
    """The annotations could not be read (no OPA binary, or `opa inspect` failed)."""


def _inspect(policy_dir: Path, opa: Path) -> dict[str, Any]:
    try:
        done = subprocess.run([str(opa), "inspect", "-a", "-f", "json", str(policy_dir)],  # noqa: S603
                              capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RulesUnavailable(f"opa inspect failed: {type(exc).__name__}") from None
    if done.returncode != 0:
        raise RulesUnavailable(f"opa inspect failed: {done.stderr.strip()[:300]}")
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _rule_path(path: list[dict[str, Any]]) -> str:
    return ".".join(str(part.get("value")) for part in path)


def policy_rules(policy_dir: Path, opa_binary: str | None = None) -> dict[str, Any]:
    """{"revision", "declared_revision", "by_clause": {clause: [rule, ...]}, "error"}."""
    files = load_policy_files(policy_dir)
    out: dict[str, Any] = {"revision": revision_of(files),
                           "declared_revision": declared_revision(files),
                           "policy_dir": policy_dir.name, "by_clause": {}, "error": None}
    opa = find_opa_binary(opa_binary)
    try:
        if opa is None:
            raise RulesUnavailable("no OPA binary to read the policy's annotations")
        inspected = _inspect(policy_dir, opa)
    except RulesUnavailable as exc:
        out["error"] = str(exc)
        return out
    by_clause: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in inspected.get("annotations") or []:
        notes = item.get("annotations") or {}
        clauses = (notes.get("custom") or {}).get("clauses") or []
        location = item.get("location") or {}
        file = str(location.get("file", ""))
        if "/tests/" in f"/{file}" or file.endswith("_test.rego"):
            continue
        rule = {"rule": _rule_path(item.get("path") or []),
                "title": notes.get("title") or "", "description": notes.get("description") or "",
                "file": str(Path(file).relative_to(policy_dir)) if file.startswith(
                    str(policy_dir)) else file,
                "line": location.get("row")}
        for clause in clauses:
            by_clause[str(clause)].append(rule)
    out["by_clause"] = {c: sorted(rules, key=lambda r: (r["file"], r["line"] or 0))
                        for c, rules in sorted(by_clause.items())}
    return out
