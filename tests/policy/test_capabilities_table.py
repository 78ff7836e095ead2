"""policies/data.json states who may do what once: `capabilities` (kind -> action -> purposes),
the table the rules read and people edit; the actions carry no copy of it."""

from __future__ import annotations

import json

from gateway.policy.purposes import purposes_by_action
from tests.policy.conftest import POLICY_DIR

TABLES = json.loads((POLICY_DIR / "data.json").read_text())["gateway"]["tables"]


def test_no_action_carries_a_copy_of_the_capabilities() -> None:
    copies = sorted(name for name, action in TABLES["actions"].items() if "capable" in action)
    assert copies == [], "data.json: capabilities are stated once, in tables.capabilities"


def test_no_capability_names_an_unknown_action() -> None:
    for kind, actions in TABLES["capabilities"].items():
        assert set(actions) <= set(TABLES["actions"]), kind


def test_the_api_lists_the_purposes_the_capabilities_give_api_callers() -> None:
    purposes = purposes_by_action(POLICY_DIR)
    assert purposes["mail.message.read_content"] == [
        "contact_linking", "legal", "security", "support", "user_facing"]
    assert purposes["data.export"] == ["user_rights"]
    assert purposes["mail.sync"] == []  # the system's only
