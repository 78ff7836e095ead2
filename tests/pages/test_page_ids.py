"""Every page route that takes an id answers another tenant's id, another user's mailbox and an
id that exists nowhere alike: the API's 404, and a `deny` entry in the log (reason
`not_found`), before any decision. The routes are read from the app, so a new page is probed
without being listed here."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.kit.app_routes import all_routes
from gateway.kit.db import Database
from gateway.pages.security import is_page_path
from tests.pages.support import csrf_of, link_path
from tests.support.world import Actor, TenantWorld

PERSONAS = {"/me": "end_user", "/desk": "operator", "/console": "reviewer"}


def page_id_routes(client: TestClient) -> list[tuple[str, str]]:
    found = []
    for route in all_routes(client.app):  # type: ignore[arg-type]
        if (isinstance(route, APIRoute) and "{" in route.path and is_page_path(route.path)
                and (route.openapi_extra or {}).get("x-policy-action")):
            found += [(method, route.path) for method in sorted(route.methods or ())]
    return found


def unknown_ids() -> dict[str, str]:
    return {"mailbox_id": str(uuid.uuid4()), "message_id": uuid.uuid4().hex[:16],
            "thread_id": uuid.uuid4().hex[:16], "grant_id": str(uuid.uuid4()),
            "request_id": str(uuid.uuid4()), "entry_id": str(uuid.uuid4()),
            "justification_id": str(uuid.uuid4()), "step": "delete"}


def fill(template: str, ids: dict[str, str]) -> str:
    path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)
    assert "{" not in path
    return path


@pytest.fixture
def signed_in(client: TestClient, tenant_a: TenantWorld
              ) -> Iterator[dict[str, tuple[TestClient, str]]]:
    """Tenant A's end user, operator and reviewer, each with their own cookie jar and the
    CSRF token of their session."""
    clients: dict[str, tuple[TestClient, str]] = {}
    people: dict[str, Actor] = {"end_user": tenant_a.end_user, "operator": tenant_a.operator,
                                "reviewer": tenant_a.reviewer, "other_user": tenant_a.other_user}
    homes = {"end_user": "/me", "operator": "/desk", "reviewer": "/console", "other_user": "/me"}
    for name, person in people.items():
        browser = TestClient(client.app, raise_server_exceptions=False)
        link = browser.post("/v1/sessions", headers=tenant_a.crm.headers(),
                            json={"principal_id": person.id}).json()
        assert browser.get(link_path(link), follow_redirects=False).status_code == 303
        clients[name] = (browser, csrf_of(browser.get(homes[name]).text))
    yield clients
    for browser, _ in clients.values():
        browser.close()


def probe(browser: TestClient, token: str, method: str, path: str) -> tuple[int, str]:
    request_id = f"ids-{uuid.uuid4().hex}"
    headers = {"X-Request-Id": request_id}
    if method == "POST":
        answer = browser.post(path, data={"csrf_token": token}, headers=headers)
    else:
        answer = browser.request(method, path, headers=headers)
    code = re.search(r'data-code="(\w+)"', answer.text)
    return answer.status_code, (code.group(1) if code else "") + "|" + request_id


def test_every_page_id_route_refuses_foreign_other_users_and_unknown_ids_alike(
        signed_in: dict[str, tuple[TestClient, str]], db: Database, tenant_a: TenantWorld,
        tenant_b: TenantWorld) -> None:
    routes = page_id_routes(signed_in["end_user"][0])
    assert len(routes) >= 20, routes  # not vacuous: the persona pages' id routes
    foreign = {**unknown_ids(), "mailbox_id": str(tenant_b.mailbox.id)}
    problems = []
    for method, template in routes:
        persona = next(kind for prefix, kind in PERSONAS.items() if template.startswith(prefix))
        id_sets = [foreign, unknown_ids()]
        if persona == "end_user":  # another user's mailbox in the same tenant
            id_sets.append({**unknown_ids(), "mailbox_id": str(tenant_a.mailbox.id)})
        answers = set()
        for ids in id_sets:
            who = "other_user" if ids["mailbox_id"] == str(tenant_a.mailbox.id) else persona
            browser, token = signed_in[who]
            status, coded = probe(browser, token, method, fill(template, ids))
            code, request_id = coded.split("|")
            with db.transaction() as s:
                entries = list(s.scalars(select(AuditEntry).where(
                    AuditEntry.request_id == request_id)))
            logged = [(e.decision, e.reasons) for e in entries]
            if status != 404 or logged != [("deny", ["not_found"])]:
                problems.append(f"{method} {template} as {who}: {status} {code} {logged}")
            answers.add((status, code))
        if len(answers) > 1:
            problems.append(f"{method} {template}: the answers differ: {answers}")
    assert not problems, "\n".join(problems)
