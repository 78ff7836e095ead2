"""History records reduce to a plan that fetches only what still exists and applies label
changes in order."""

from __future__ import annotations

from gateway.sync.plan import Plan, chunks


def _msg(gmail_id: str) -> dict[str, object]:
    return {"message": {"id": gmail_id, "threadId": "t" + gmail_id}}


def test_added_then_deleted_is_not_fetched_and_label_ops_keep_their_order() -> None:
    plan = Plan.from_history([
        {"id": "10", "messagesAdded": [_msg("a"), _msg("b")]},
        {"id": "11", "labelsAdded": [{**_msg("c"), "labelIds": ["STARRED"]}]},
        {"id": "12", "messagesDeleted": [_msg("a")]},
        {"id": "13", "labelsRemoved": [{**_msg("c"), "labelIds": ["STARRED"]}]},
        {"id": "14", "messagesDeleted": [_msg("d")], "messagesAdded": [_msg("e")]},
    ])
    assert plan.fetch == {"b": "tb", "e": "te"}
    assert plan.deleted == {"a", "d"}
    assert plan.label_ops == [("c", "add", ["STARRED"]), ("c", "remove", ["STARRED"])]


def test_deleted_then_added_again_is_fetched() -> None:
    plan = Plan.from_history([{"messagesDeleted": [_msg("x")]}, {"messagesAdded": [_msg("x")]}])
    assert plan.fetch == {"x": "tx"} and plan.deleted == set()


def test_chunks() -> None:
    assert list(chunks([str(i) for i in range(5)], 2)) == [["0", "1"], ["2", "3"], ["4"]]
