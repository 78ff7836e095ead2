"""k-anonymity of every output group: with k=4 and a skewed tenant (one mailbox holds most of
the mail, another a single odd message), no `group_by` combination the policy allows returns a
group drawn from fewer than 4 distinct mailboxes; such groups are merged into `other`, which is
itself shown only when it spans at least 4 mailboxes."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.kit.db import Database
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.models import Mailbox
from gateway.runtime import runtime_of
from gateway.settings import Settings
from tests.mail.factories import make_raw
from tests.support.world import TenantWorld

URL = "/v1/analytics/message-volume"
K = 4
ALLOWED = ("day", "week", "size_bucket", "label_kind")
COMBINATIONS = [list(c) for n in range(1, len(ALLOWED) + 1)
                for c in itertools.permutations(ALLOWED, n)]


@pytest.fixture(scope="module")
def k4_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"analytics_min_cohort": K}))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _facets(when: datetime, size: int, labels: list[str]) -> dict[str, str]:
    """What the planted message looks like on each allowed axis."""
    bucket = next((name for limit, name in ((10_000, "<10KB"), (100_000, "<100KB"),
                                            (1_000_000, "<1MB")) if size < limit), ">=1MB")
    iso = when.isocalendar()
    return {"day": when.date().isoformat(), "week": f"{iso.year}-W{iso.week:02d}",
            "size_bucket": bucket,
            "label_kind": "user" if any(x.startswith("Label_") for x in labels) else "system"}


def _plant(db: Database, client: TestClient, world: TenantWorld
           ) -> list[tuple[int, dict[str, str]]]:
    """Five mailboxes: four share one ordinary day; mailbox 0 has twenty more large messages
    on its own; mailboxes 1 and 2 share another day; mailbox 4 has one huge labelled message."""
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    d1, d2, d3 = now - timedelta(days=1), now - timedelta(days=9), now - timedelta(days=20)
    plan: list[tuple[int, datetime, int, list[str]]] = [
        *[(box, d1, 2_000, ["INBOX"]) for box in range(4)],
        *[(0, d2, 50_000, ["INBOX", "Label_7"]) for _ in range(20)],
        (1, d2, 500, ["INBOX"]), (2, d2, 700, ["INBOX"]),
        (4, d3, 3_000_000, ["Label_9"]),
    ]
    store = MessageStore(runtime_of(client.app).crypto)
    with db.transaction() as s:
        boxes = [s.get(Mailbox, world.mailbox.id)] + [
            Mailbox(tenant_id=world.tenant.id, owner_principal_id=world.end_user.principal.id)
            for _ in range(4)]
        s.add_all(boxes[1:])
        s.flush()
        for n, (box, when, size, labels) in enumerate(plan):
            mailbox = boxes[box]
            assert mailbox is not None
            store.put(s, mailbox, gmail_id=f"g{n}", thread_id=f"t{n}", raw=make_raw("s", "b"),
                      label_ids=labels, internal_date=when, size_estimate=size)
    return [(box, _facets(when, size, labels)) for box, when, size, labels in plan]


@pytest.mark.clause("lu.analytics", "lu.derived")
def test_every_allowed_grouping_hides_groups_below_k(
        k4_client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    planted = _plant(db, k4_client, tenant_a)
    headers = tenant_a.analytics.headers("analytics_internal")
    small_seen, others_shown = 0, 0
    for group_by in COMBINATIONS:
        truth_boxes: dict[tuple[str, ...], set[int]] = defaultdict(set)
        truth_messages: dict[tuple[str, ...], int] = defaultdict(int)
        for box, facets in planted:
            key = tuple(facets[g] for g in group_by)
            truth_boxes[key].add(box)
            truth_messages[key] += 1
        response = k4_client.get(URL, params={"days": 60, "group_by": ",".join(group_by)},
                                 headers=headers)
        assert response.status_code == 200, (group_by, response.text)
        body = response.json()
        assert body["min_cohort"] == K and body["cohort_size"] == 5
        shown = {tuple(b["key"]): b["messages"] for b in body["buckets"]}
        for key in shown:
            assert len(truth_boxes[key]) >= K, (group_by, key, "a group below k was disclosed")
        large = {key: n for key, n in truth_messages.items() if len(truth_boxes[key]) >= K}
        assert shown == large, group_by
        small = [key for key in truth_boxes if len(truth_boxes[key]) < K]
        small_seen += bool(small)
        spanned = set().union(*(truth_boxes[key] for key in small)) if small else set()
        if len(spanned) >= K:
            assert body["other"] == {"messages": sum(truth_messages[k] for k in small)}
            others_shown += 1
        else:
            assert body["other"] is None, (group_by, body["other"])
    # The dataset puts a small group in every grouping, and both fates of `other` happen.
    assert small_seen == len(COMBINATIONS) and 0 < others_shown < len(COMBINATIONS)


def test_below_k_in_total_is_still_refused_by_the_policy(
        k4_client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    store = MessageStore(runtime_of(k4_client.app).crypto)
    with db.transaction() as s:
        box = s.get(Mailbox, tenant_a.mailbox.id)
        assert box is not None
        store.put(s, box, gmail_id="only", thread_id="t", raw=make_raw("s", "b"),
                  label_ids=["INBOX"], internal_date=datetime.now(UTC))
    response = k4_client.get(URL, params={"group_by": "week"},
                             headers=tenant_a.analytics.headers("analytics_internal"))
    assert response.status_code == 403 and "cohort_too_small" in response.json()["reasons"]
