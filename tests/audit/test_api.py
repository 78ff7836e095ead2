"""The reviewer API, black-box: real app, real policy engine (OPA server), real PostgreSQL,
including the end user's "who accessed my mailbox" view (policy: owner may `audit.query` the
access log of their own mailbox)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.world import TenantWorld

SIX_FIELDS = ("connection_id", "protocol", "operation", "occurred_at", "actor_id")
REVIEW = "audit_review"


def _calls(client: TestClient, world: TenantWorld) -> list[tuple[str, int, str]]:
    """A handful of data requests, allowed and denied; returns (request id, status, who)."""
    mailbox = f"/v1/mailboxes/{world.mailbox.id}"
    made = [
        (world.end_user, mailbox, "user_facing", 200),
        (world.crm, "/v1/mailboxes", "user_facing", 200),
        (world.crm, mailbox, "user_facing", 200),
        (world.other_user, mailbox, "user_facing", 403),   # not the owner
        (world.crm, mailbox, "advertising", 403),          # a prohibited purpose
    ]
    results = []
    for actor, path, purpose, status in made:
        response = client.get(path, headers={**actor.headers(purpose),
                                             "User-Agent": "crm-frontend/2.1",
                                             "Gateway-Device-Id": "device-42"})
        assert response.status_code == status, response.text
        results.append((response.headers["x-request-id"], status, actor.id))
    return results


def _entries(client: TestClient, world: TenantWorld, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/audit/entries", params=params,
                          headers=world.reviewer.headers(REVIEW))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_reviewer_sees_one_entry_per_call_with_the_six_fields(
        audit_client: TestClient, tenant_a: TenantWorld) -> None:
    calls = _calls(audit_client, tenant_a)
    items = _entries(audit_client, tenant_a)["items"]
    assert len(items) == len(calls)
    by_request = {item["request_id"]: item for item in items}
    assert set(by_request) == {request_id for request_id, _, _ in calls}
    for request_id, status, actor_id in calls:
        item = by_request[request_id]
        for name in SIX_FIELDS:
            assert item[name], (name, item)
        assert item["client_ip"] and item["user_agent"] == "crm-frontend/2.1"
        assert item["device_id"] == "device-42"
        assert item["actor_id"] == actor_id
        assert item["decision"] == ("allow" if status == 200 else "deny")
        assert item["reasons"] and item["policy_revision"]
        assert item["tenant_id"] == str(tenant_a.tenant.id)
        assert item["seq"] is not None and item["entry_hash"]
    denied = [i for i in items if i["decision"] == "deny"]
    assert {r for i in denied for r in i["reasons"]} >= {"not_mailbox_owner",
                                                       "purpose_prohibited_advertising"}


def test_a_reviewers_own_queries_are_logged(audit_client: TestClient,
                                            tenant_a: TenantWorld) -> None:
    _entries(audit_client, tenant_a)
    mine = _entries(audit_client, tenant_a, actor_id=tenant_a.reviewer.id)["items"]
    assert [(i["action"], i["purpose"], i["resource_type"]) for i in mine] == [
        ("audit.query", REVIEW, "audit_log")]


def test_filters(audit_client: TestClient, tenant_a: TenantWorld) -> None:
    _calls(audit_client, tenant_a)
    denied = _entries(audit_client, tenant_a, decision="deny")["items"]
    assert len(denied) == 2 and {i["decision"] for i in denied} == {"deny"}
    mailbox = _entries(audit_client, tenant_a, mailbox_id=str(tenant_a.mailbox.id))["items"]
    assert len(mailbox) == 4
    crm = _entries(audit_client, tenant_a, actor_id=tenant_a.crm.id, purpose="user_facing")
    assert len(crm["items"]) == 2
    action = _entries(audit_client, tenant_a, action="mail.mailbox.list")["items"]
    assert [i["operation"] for i in action] == ["mail:mailbox:list"]
    assert _entries(audit_client, tenant_a, since="2999-01-01T00:00:00Z")["items"] == []
    assert len(_entries(audit_client, tenant_a, until="2999-01-01T00:00:00")["items"]) >= 5


def test_keyset_pagination_with_an_opaque_cursor(audit_client: TestClient,
                                                 tenant_a: TenantWorld) -> None:
    calls = _calls(audit_client, tenant_a)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "decision": "allow"}
    while True:
        page = _entries(audit_client, tenant_a, **params)
        seen += [i["request_id"] for i in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    allowed = [r for r, status, _ in calls if status == 200]
    assert sorted(seen) == sorted(allowed) and len(seen) == len(set(seen))
    assert seen == list(reversed(allowed))  # newest first


def test_a_bad_cursor_is_a_400_problem(audit_client: TestClient,
                                       tenant_a: TenantWorld) -> None:
    _calls(audit_client, tenant_a)
    headers = tenant_a.reviewer.headers(REVIEW)
    for cursor in ("garbage!", "eyJ2IjoxfQ", "x" * 40):
        response = audit_client.get("/v1/audit/entries", params={"cursor": cursor},
                                    headers=headers)
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "invalid_cursor"
    cursor = _entries(audit_client, tenant_a, limit=1)["next_cursor"]
    other = audit_client.get("/v1/audit/entries", headers=headers,
                             params={"cursor": cursor, "decision": "deny"})
    assert other.status_code == 400 and other.json()["code"] == "invalid_cursor"


def test_exports_stream_json_lines_and_csv(audit_client: TestClient,
                                           tenant_a: TenantWorld) -> None:
    calls = _calls(audit_client, tenant_a)
    headers = tenant_a.reviewer.headers(REVIEW)
    jsonl = audit_client.get("/v1/audit/entries/export", params={"format": "jsonl"},
                             headers=headers)
    assert jsonl.status_code == 200
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in jsonl.headers["content-disposition"]
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert {r for r, _, _ in calls} <= {line["request_id"] for line in lines}

    response = audit_client.get("/v1/audit/entries/export",
                                params={"format": "csv", "decision": "deny"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 2
    assert all(row["connection_id"] and row["operation"] and row["actor_id"] for row in rows)
    assert json.loads(rows[0]["reasons"])


def test_the_verify_endpoint(audit_client: TestClient, tenant_a: TenantWorld) -> None:
    _calls(audit_client, tenant_a)
    response = audit_client.get("/v1/audit/verify", headers=tenant_a.reviewer.headers(REVIEW))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True and body["entries"] >= 5 and body["first_problem"] is None


def test_other_principals_cannot_read_the_log(audit_client: TestClient,
                                              tenant_a: TenantWorld) -> None:
    for actor in (tenant_a.end_user, tenant_a.crm, tenant_a.operator, tenant_a.analytics):
        for purpose in (REVIEW, "user_facing", "user_rights"):
            for path in ("/v1/audit/entries", "/v1/audit/entries/export", "/v1/audit/verify"):
                response = audit_client.get(path, headers=actor.headers(purpose))
                assert response.status_code == 403, (actor.principal.kind, path)
                assert "items" not in response.json()


@pytest.mark.clause("pp.user_rights", "pp.operation_log")
def test_an_end_user_reads_who_accessed_their_own_mailbox(
        audit_client: TestClient, tenant_a: TenantWorld) -> None:
    _calls(audit_client, tenant_a)
    path = f"/v1/mailboxes/{tenant_a.mailbox.id}/access-log"
    response = audit_client.get(path, headers=tenant_a.end_user.headers("user_rights"))
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == 4
    assert {i["mailbox_id"] for i in items} == {str(tenant_a.mailbox.id)}
    assert all(i["client_ip"] is None and i["connection_id"] is None for i in items)
    exported = audit_client.get(path + "/export", params={"format": "jsonl"},
                                headers=tenant_a.end_user.headers("user_rights"))
    assert exported.status_code == 200 and len(exported.text.splitlines()) >= 4
    # a reviewer sees the same entries with their terminals
    reviewer = audit_client.get(path, headers=tenant_a.reviewer.headers(REVIEW)).json()
    assert all(i["connection_id"] for i in reviewer["items"])


def test_nobody_else_reads_a_mailboxs_access_log(audit_client: TestClient,
                                                 tenant_a: TenantWorld,
                                                 tenant_b: TenantWorld) -> None:
    path = f"/v1/mailboxes/{tenant_a.mailbox.id}/access-log"
    assert audit_client.get(path, headers=tenant_a.other_user.headers("user_rights")
                            ).status_code == 403
    assert audit_client.get(path, headers=tenant_a.crm.headers("user_rights")
                            ).status_code == 403
    # another tenant's mailbox id is not confirmed to exist
    assert audit_client.get(path, headers=tenant_b.reviewer.headers(REVIEW)).status_code == 404
    assert audit_client.get(path, headers=tenant_b.end_user.headers("user_rights")
                            ).status_code == 404


def test_a_reviewer_only_sees_their_own_tenant(audit_client: TestClient,
                                               tenant_a: TenantWorld,
                                               tenant_b: TenantWorld) -> None:
    _calls(audit_client, tenant_a)
    items = _entries(audit_client, tenant_b)["items"]
    assert all(i["tenant_id"] == str(tenant_b.tenant.id) for i in items)
    assert not [i for i in items if i["actor_id"] in {tenant_a.crm.id, tenant_a.end_user.id}]


def test_bad_filters_are_422_problems(audit_client: TestClient, tenant_a: TenantWorld) -> None:
    headers = tenant_a.reviewer.headers(REVIEW)
    for params in ({"mailbox_id": "not-a-uuid"}, {"decision": "perhaps"},
                   {"since": "yesterday"}, {"limit": 0}, {"limit": 100000},
                   {"actor_kind": "robot"}):
        response = audit_client.get("/v1/audit/entries", params=params, headers=headers)
        assert response.status_code == 422, params
        assert response.json()["code"] == "validation_failed"
