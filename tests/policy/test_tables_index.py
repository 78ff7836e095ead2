"""policies/data.json: `actions[a].capable` (what the rules read) is exactly the by-action view of
`capabilities` (kind -> action -> purposes, the table people read and edit)."""

from __future__ import annotations

import json
from typing import Any

from tests.policy.conftest import POLICY_DIR

TABLES = json.loads((POLICY_DIR / "data.json").read_text())["gateway"]["tables"]


def by_action(capabilities: dict[str, dict[str, Any]], action: str) -> dict[str, Any]:
    return {kind: actions[action] for kind, actions in capabilities.items() if action in actions}


def test_every_action_carries_its_capabilities() -> None:
    for name, action in TABLES["actions"].items():
        expected = by_action(TABLES["capabilities"], name)
        assert action.get("capable") == expected, (
            f"data.json: actions[{name!r}].capable must be {json.dumps(expected)} "
            "(the by-action view of capabilities)")


def test_no_capability_names_an_unknown_action() -> None:
    for kind, actions in TABLES["capabilities"].items():
        assert set(actions) <= set(TABLES["actions"]), kind
