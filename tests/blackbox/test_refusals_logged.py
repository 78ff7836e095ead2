"""Every refused access to a guarded route is in the operation log, through the HTTP API of a
gateway served as shipped (`gateway.cli serve`), on PostgreSQL with the OPA server and on SQLite
with the embedded engine (tests/support/served.py):

- another tenant's ids on every id-taking route, and ids that exist nowhere: the same answer
  and a `deny` entry of the same shape (reason `not_found`), never an `allow`;
- another mailbox's message, grant or delivery id through one's own mailbox or endpoint;
- failed authentication (no key, an unknown key, a revoked key);
- an ambiguous purpose (repeated or comma-joined `Gateway-Purpose`): 400 `ambiguous_purpose`,
  the submitted values not echoed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from gateway.accounts.models import ApiKey
from gateway.app import create_app
from gateway.audit.models import AuditEntry
from gateway.kit.db import Database
from gateway.kit.migrate import upgrade
from gateway.settings import Environment, Settings
from tests.fuzz.world import truncate_all
from tests.support.served import (
    Served,
    World,
    blackbox_settings,
    build_world,
    entries_for,
    headers_of,
    request_id,
    serve_gateway,
    shape,
)
from tests.support.world import TEST_PEPPER

UA = "probe-agent/1.0"
DEVICE = "probe-device-7"


def _guarded_id_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(environment=Environment.test,
                              api_key_pepper=SecretStr(TEST_PEPPER)))
    return sorted((method.upper(), path) for path, ops in app.openapi()["paths"].items()
                  for method, op in ops.items()
                  if "{" in path and isinstance(op, dict) and "x-policy-action" in op)


ID_ROUTES = _guarded_id_routes()


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Served, World]]:
    tmp = tmp_path_factory.mktemp(f"blackbox-{request.param}")
    if request.param == "postgresql":
        database_url: str = request.getfixturevalue("database_url")
        opa_url: str | None = request.getfixturevalue("opa_url")
    else:
        database_url, opa_url = f"sqlite:///{Path(tmp) / 'gateway.db'}", None
        upgrade(database_url)
    settings = blackbox_settings(database_url, tmp, opa_url)
    db = Database.from_url(database_url)
    try:
        world = build_world(db, settings, request.param[:2])
        with serve_gateway(settings) as server:
            _b_objects(server, world)
            yield server, world
    finally:
        if request.param == "postgresql":
            truncate_all(db)
        db.dispose()


def _b_objects(server: Served, world: World) -> None:
    """Tenant B's webhook endpoint and consent grant, made through the API."""
    status, _, body = server.request(
        "POST", "/v1/webhooks", headers_of(world.b.crm.key),
        json.dumps({"url": "http://127.0.0.1:9/hook", "event_types": ["message.created"]}
                   ).encode())
    if status == 201:
        world.b_endpoint = str(json.loads(body)["id"])
    status, _, body = server.request(
        "POST", f"/v1/mailboxes/{world.b.mailbox.id}/consent/grants",
        headers_of(world.b.end_user.key, purpose="consent_management"),
        json.dumps({"operator_id": world.b.operator.id, "message_ids": [world.b_message]}
                   ).encode())
    if status == 201:
        world.b_grant = str(json.loads(body)["id"])
    status, _, body = server.request(
        "POST", "/v1/sessions", headers_of(world.b.crm.key),
        json.dumps({"principal_id": world.b.end_user.id}).encode())
    if status == 201:
        world.b_session = str(json.loads(body)["id"])


def _fill(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, path
    return path


def _foreign_ids(world: World) -> dict[str, str]:
    return {"mailbox_id": str(world.b.mailbox.id), "message_id": world.b_message,
            "thread_id": world.b_thread, "endpoint_id": world.b_endpoint or str(uuid.uuid4()),
            "grant_id": world.b_grant or str(uuid.uuid4()), **_unknown_rest(),
            "principal_id": world.b.end_user.id, "key_id": _a_key_of(world, world.b.crm.id),
            "session_id": world.b_session or str(uuid.uuid4())}


def _a_key_of(world: World, principal_id: str) -> str:
    with world.db.transaction() as s:
        return str(s.scalar(select(ApiKey.id).where(ApiKey.principal_id == uuid.UUID(
            principal_id))))


def _unknown_ids() -> dict[str, str]:
    return {"mailbox_id": str(uuid.uuid4()), "message_id": uuid.uuid4().hex[:16],
            "thread_id": uuid.uuid4().hex[:16], "endpoint_id": str(uuid.uuid4()),
            "grant_id": str(uuid.uuid4()), **_unknown_rest()}


def _unknown_rest() -> dict[str, str]:
    return {"label_id": "Label_4711", "draft_id": "r" + uuid.uuid4().hex[:15],
            "request_id": str(uuid.uuid4()), "delivery_id": str(uuid.uuid4()),
            "justification_id": str(uuid.uuid4()), "part_id": "1",
            "principal_id": str(uuid.uuid4()), "key_id": str(uuid.uuid4()),
            "session_id": str(uuid.uuid4())}


def _probe(server: Served, world: World, method: str, path: str, key: str
           ) -> tuple[int, dict[str, Any], list[AuditEntry]]:
    lines = headers_of(key, User_Agent=UA, Gateway_Device_Id=DEVICE)
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    status, _, raw = server.request(method, path, lines, body)
    return status, json.loads(raw or b"{}"), entries_for(world.db, request_id(lines))


def _assert_terminal(entry: AuditEntry) -> None:
    assert (entry.client_ip, entry.user_agent, entry.device_id, entry.protocol) == (
        "127.0.0.1", UA, DEVICE, "http/1.1")


def test_every_id_taking_route_refuses_and_logs_foreign_and_unknown_ids_alike(
        served: tuple[Served, World]) -> None:
    server, world = served
    assert len(ID_ROUTES) >= 40, ID_ROUTES  # not vacuous: the app's id-taking routes
    problems: list[str] = []
    for method, template in ID_ROUTES:
        answers = []
        for ids in (_foreign_ids(world), _unknown_ids()):
            status, problem, entries = _probe(server, world, method, _fill(template, ids),
                                              world.a.crm.key)
            answers.append((status, problem.get("code"), [shape(e) for e in entries]))
            if status != 404 or len(entries) != 1 or entries[0].decision != "deny":
                problems.append(f"{method} {template}: {status} {problem.get('code')} "
                                f"{[(e.decision, e.reasons) for e in entries]}")
                continue
            (entry,) = entries
            _assert_terminal(entry)
            assert entry.reasons == ["not_found"] and entry.tenant_id == world.a.tenant.id
            assert entry.mailbox_id is None or entry.mailbox_id != world.b.mailbox.id
        if answers[0] != answers[1]:
            problems.append(f"{method} {template}: foreign and unknown differ: {answers}")
    assert not problems, "\n".join(problems)


OWN_MAILBOX_ROUTES = [
    ("GET", "/messages/{message_id}"), ("GET", "/messages/{message_id}/content"),
    ("GET", "/messages/{message_id}/raw"), ("GET", "/messages/{message_id}/attachments/1"),
    ("GET", "/threads/{thread_id}"), ("POST", "/messages/{message_id}/modify"),
    ("POST", "/messages/{message_id}/mark-read"), ("POST", "/messages/{message_id}/mark-unread"),
    ("POST", "/messages/{message_id}/trash"), ("POST", "/messages/{message_id}/untrash"),
    ("DELETE", "/consent/grants/{grant_id}"), ("POST", "/consent/requests/{request_id}/decision"),
]


def test_a_foreign_id_through_ones_own_mailbox_is_refused_before_the_decision(
        served: tuple[Served, World]) -> None:
    server, world = served
    assert world.b_grant is not None, "tenant B's grant was not created"
    own = f"/v1/mailboxes/{world.a.mailbox.id}"
    for method, tail in OWN_MAILBOX_ROUTES:
        shapes = []
        for ids in (_foreign_ids(world), _unknown_ids()):
            status, problem, entries = _probe(server, world, method, own + _fill(tail, ids),
                                              world.a.crm.key)
            assert status == 404, (method, tail, status, problem)
            assert [e.decision for e in entries] == ["deny"], (method, tail, entries)
            (entry,) = entries
            _assert_terminal(entry)
            assert entry.reasons == ["not_found"] and entry.mailbox_id == world.a.mailbox.id
            assert entry.resource_ids[0] in ids.values()
            shapes.append((problem["code"], shape(entry)))
        assert shapes[0] == shapes[1], (method, tail, shapes)


def test_a_foreign_delivery_through_ones_own_endpoint_is_refused_and_logged(
        served: tuple[Served, World]) -> None:
    server, world = served
    status, _, body = server.request(
        "POST", "/v1/webhooks", headers_of(world.a.crm.key),
        json.dumps({"url": "http://127.0.0.1:9/a", "event_types": ["message.created"]}).encode())
    assert status == 201, body
    endpoint = json.loads(body)["id"]
    status, problem, entries = _probe(
        server, world, "POST", f"/v1/webhooks/{endpoint}/deliveries/{uuid.uuid4()}/redeliver",
        world.a.crm.key)
    assert (status, problem["code"]) == (404, "webhook_delivery_not_found")
    assert [(e.decision, e.reasons) for e in entries] == [("deny", ["not_found"])]


def test_failed_authentication_is_logged_with_the_terminal(
        served: tuple[Served, World]) -> None:
    server, world = served
    with world.db.transaction() as s:
        s.execute(update(ApiKey).where(ApiKey.principal_id == world.a.reviewer.principal.id)
                  .values(revoked_at=datetime.now(UTC)))
    cases = [(None, "missing_api_key", "anonymous"),
             ("gmgw_" + "x" * 40, "invalid_api_key", "anonymous"),
             (world.a.reviewer.key, "revoked_api_key", world.a.reviewer.id)]
    for key, reason, actor in cases:
        lines = headers_of(key, User_Agent=UA, Gateway_Device_Id=DEVICE)
        status, _, raw = server.request("GET", f"/v1/mailboxes/{world.a.mailbox.id}/messages",
                                        lines)
        problem, entries = json.loads(raw), entries_for(world.db, request_id(lines))
        assert status == 401, (reason, problem)
        assert [(e.decision, e.reasons, e.actor_id) for e in entries] == [
            ("deny", [reason], actor)], reason
        (entry,) = entries
        _assert_terminal(entry)
        assert entry.operation == "mail:message:list" and entry.policy_revision == "not_evaluated"
        assert (entry.mailbox_id, entry.resource_ids) == (None, [])
        assert "x" * 20 not in entry.connection_id  # never more of a key than its prefix


def test_an_ambiguous_purpose_is_refused_without_echo_and_logged(
        served: tuple[Served, World]) -> None:
    server, world = served
    path = f"/v1/mailboxes/{world.a.mailbox.id}/messages"
    repeated = [*headers_of(world.a.crm.key, purpose="user_facing"),
                ("Gateway-Purpose", "advertising")]
    joined = headers_of(world.a.crm.key, purpose="user_facing, advertising")
    for lines in (repeated, joined):
        status, headers, raw = server.request("GET", path, lines)
        problem = json.loads(raw)
        assert (status, problem["code"]) == (400, "ambiguous_purpose")
        assert headers["content-type"].startswith("application/problem+json")
        assert "advertising" not in raw.decode() and "user_facing" not in raw.decode()
        (entry,) = entries_for(world.db, request_id(lines))
        assert (entry.decision, entry.reasons, entry.actor_id, entry.purpose) == (
            "deny", ["ambiguous_purpose"], world.a.crm.id, "none")
    # Unauthenticated: refused for the key first, and logged as that.
    lines = [*headers_of(None, purpose="user_facing"), ("Gateway-Purpose", "advertising")]
    assert server.request("GET", path, lines)[0] == 401
    assert [e.reasons for e in entries_for(world.db, request_id(lines))] == [
        ["missing_api_key"]]
    # One purpose still works.
    assert server.request("GET", path, headers_of(world.a.crm.key))[0] == 200
