"""The quota units the gateway charges per Gmail method are Google's documented ones, and the
emulator (Google, in the tests) charges the same: a wrong cost in the gateway's table would
otherwise pass every quota test while the budget misjudged real Google."""

from __future__ import annotations

from emulator.scopes import METHOD_COST as EMULATOR_COST
from gateway.gmail.costs import METHOD_COST, PER_USER_UNITS_PER_MINUTE, cost_of

# ../shared/design/requirements.md §4 and Google's "Usage limits" page of the Gmail API.
DOCUMENTED = {
    "gmail.users.messages.get": 5,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.modify": 5,
    "gmail.users.history.list": 2,
    "gmail.users.messages.send": 100,
    "gmail.users.messages.batchModify": 50,
    "gmail.users.labels.list": 1,
    "gmail.users.drafts.create": 10,
    "gmail.users.drafts.send": 100,
    "gmail.users.messages.attachments.get": 5,
    "gmail.users.watch": 100,
}


def test_the_documented_costs_are_charged() -> None:
    assert {method: cost_of(method) for method in DOCUMENTED} == DOCUMENTED
    assert PER_USER_UNITS_PER_MINUTE == 15_000


def test_the_emulator_charges_what_the_gateway_budgets() -> None:
    assert METHOD_COST == EMULATOR_COST

