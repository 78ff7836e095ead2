"""Which purposes an API caller may state for each action, read from the policy's own tables
(`gateway.tables.capabilities[kind][action]` in the policy directory's data.json), so the
OpenAPI document can list them per operation. The policy still decides each request: a purpose
listed here can be refused for this caller or this mailbox, never the other way round."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.policy.vocabulary import API_KEY_KINDS, PERMITTED_PURPOSES


def purposes_by_action(policy_dir: Path) -> dict[str, list[str]]:
    """action -> the purposes some API-key actor kind may state for it, sorted. Empty if the
    tables cannot be read (the document then lists every permitted purpose)."""
    tables = _tables(Path(policy_dir))
    found: dict[str, list[str]] = {}
    capabilities = tables.get("capabilities")
    by_kind = capabilities if isinstance(capabilities, dict) else {}
    for action in tables.get("actions") or {}:
        purposes = {purpose for kind, actions in by_kind.items()
                    if kind in API_KEY_KINDS and isinstance(actions, dict)
                    for purpose in (actions.get(action) or {}) if purpose in PERMITTED_PURPOSES}
        found[str(action)] = sorted(purposes)
    return found


def _tables(policy_dir: Path) -> dict[str, Any]:
    for file in sorted(policy_dir.rglob("data.json")) if policy_dir.is_dir() else []:
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        relative = file.parent.relative_to(policy_dir).parts
        for part in relative:  # a data.json in directory a/b is mounted at data.a.b
            document = {part: document}
        tables = document.get("gateway", {}).get("tables") if isinstance(document, dict) else None
        if isinstance(tables, dict) and "actions" in tables:
            return tables
    return {}
