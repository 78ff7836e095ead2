"""The policy's tables (policies/data.json) speak the vocabulary of gateway/policy/vocabulary.py,
and every reason code the policy can give is exercised by the decision table."""

from __future__ import annotations

import json
import re

import pytest

from gateway.policy import vocabulary as v
from tests.policy.conftest import POLICY_DIR
from tests.support.decision_table import TableCase

TABLES = json.loads((POLICY_DIR / "data.json").read_text())["gateway"]["tables"]


def test_actor_kinds() -> None:
    assert set(TABLES["actor_kinds"]) == {k.value for k in v.ActorKind}
    assert set(TABLES["capabilities"]) == {k.value for k in v.ActorKind}


@pytest.mark.clause("lu.advertising", "lu.sale", "lu.credit", "lu.ai_training")
def test_purposes() -> None:
    assert set(TABLES["permitted_purposes"]) == set(v.PERMITTED_PURPOSES)
    assert set(TABLES["prohibited_purposes"]) == set(v.PROHIBITED_PURPOSES)


def test_actions() -> None:
    assert set(TABLES["actions"]) == {a.value for a in v.Action}
    for kind, actions in TABLES["capabilities"].items():
        assert set(actions) <= set(TABLES["actions"]), kind
        for purposes in actions.values():
            assert set(purposes) <= set(v.PERMITTED_PURPOSES), kind


def test_mailbox_states() -> None:
    assert set(TABLES["mailbox_states"]) == {s.value for s in v.MailboxState}


def test_scopes_are_the_least_privilege_ones() -> None:
    known = {v.SCOPE_READONLY, v.SCOPE_SEND, v.SCOPE_MODIFY, v.SCOPE_LABELS, v.SCOPE_COMPOSE}
    for action, info in TABLES["actions"].items():
        assert set(info.get("scopes", [])) <= known, action
        assert "https://mail.google.com/" not in info.get("scopes", [])


def policy_reason_codes() -> set[str]:
    """Every reason code a rule can put into a decision."""
    codes = set(TABLES["prohibited_purposes"].values()) | set(TABLES["kind_permits"].values())
    patterns = [re.compile(r'contains "(\w+)"'), re.compile(r'_problem := "(\w+)"'),
                re.compile(r'_permit := "(\w+)"'), re.compile(r'else := "(\w+)"')]
    for module in POLICY_DIR.glob("*.rego"):
        source = module.read_text()
        for pattern in patterns:
            codes |= set(pattern.findall(source))
    return codes


def test_every_reason_code_is_in_the_decision_table(table_cases: list[TableCase]) -> None:
    codes = policy_reason_codes()
    assert len(codes) > 30
    seen = {r for case in table_cases for r in case.reasons}
    assert codes - seen == set()
    assert seen - codes == set()


def test_every_actor_kind_and_state_is_in_the_decision_table(
        table_cases: list[TableCase]) -> None:
    kinds = {c.input.get("actor", {}).get("kind") for c in table_cases}
    assert {k.value for k in v.ActorKind} <= kinds
    states = {c.input.get("mailbox_state") for c in table_cases}
    assert {s.value for s in v.MailboxState} <= states
    purposes = {c.input.get("purpose") for c in table_cases}
    assert set(v.PROHIBITED_PURPOSES) <= purposes


def test_data_json_strings_need_no_escaping() -> None:
    """Plain-ASCII tables without escapes, so table strings read the same in every tool."""
    text = (POLICY_DIR / "data.json").read_text(encoding="utf-8")
    assert text.isascii()
    assert "\\" not in text
