"""Aggregates only over cohorts of at least k mailboxes, never grouped by anything identifying."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from gateway.runtime import runtime_of
from tests.mail.factories import make_raw, store_message
from tests.support.world import TenantWorld

URL = "/v1/analytics/message-volume"


@pytest.mark.clause("lu.analytics", "lu.human_reading.aggregated")
def test_small_cohort_is_refused(client: TestClient, db: Database,
                                 tenant_a: TenantWorld) -> None:
    crypto = runtime_of(client.app).crypto
    store_message(db, crypto, tenant_a.mailbox, "a1", "t1", make_raw("s", "b"))
    response = client.get(URL, params={"days": 366},
                          headers=tenant_a.analytics.headers("analytics_internal"))
    assert response.status_code == 403, response.text
    assert "cohort_too_small" in response.json()["reasons"]


@pytest.mark.clause("lu.analytics", "lu.human_reading.aggregated", "lu.derived")
def test_cohort_of_k_is_served_and_identifying_keys_are_not(
        client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    crypto = runtime_of(client.app).crypto
    with db.transaction() as s:
        boxes = [Mailbox(tenant_id=tenant_a.tenant.id,
                         owner_principal_id=tenant_a.end_user.principal.id) for _ in range(49)]
        s.add_all(boxes)
    for index, box in enumerate([tenant_a.mailbox, *boxes]):
        store_message(db, crypto, box, f"m{index}", f"t{index}", make_raw("s", "b"))
    headers = tenant_a.analytics.headers("analytics_internal")
    response = client.get(URL, params={"days": 365, "group_by": "size_bucket"}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cohort_size"] == 50 and body["min_cohort"] == 50
    assert sum(b["messages"] for b in body["buckets"]) == 50

    by_sender = client.get(URL, params={"days": 365, "group_by": "sender"}, headers=headers)
    assert by_sender.status_code == 403
    assert "identifying_group_key" in by_sender.json()["reasons"]

    not_analytics = client.get(URL, params={"days": 365},
                               headers=tenant_a.crm.headers("analytics_internal"))
    assert not_analytics.status_code == 403
    bad = client.get(URL, params={"days": "many"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_parameter"
