"""The contract at its edges, against the real app over HTTP (tests/fuzz/world.py): unknown ids
are 404 on every route, values are never coerced into another type, and no submitted value comes
back in an error."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from gateway.policy.purposes import purposes_by_action
from gateway.settings import Settings
from tests.fuzz.world import FuzzTarget, capable_caller

pytestmark = [pytest.mark.postgres, pytest.mark.opa]

UNKNOWN = ["True", "0", "ffffffffffffffff", "00000000-0000-4000-8000-000000000000"]
# A body each operation accepts, so that only the id can be what is refused.
BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/mailboxes/{mailbox_id}/messages/{message_id}/modify"):
        {"add_label_ids": ["STARRED"]},
    ("put", "/v1/mailboxes/{mailbox_id}/drafts/{draft_id}"):
        {"to": ["carol@customer.example"], "subject": "s", "text": "t"},
    ("patch", "/v1/mailboxes/{mailbox_id}/labels/{label_id}"): {"name": "Renamed"},
    ("patch", "/v1/webhooks/{endpoint_id}"): {"active": False},
    ("post", "/v1/mailboxes/{mailbox_id}/consent/requests/{request_id}/decision"):
        {"approve": False},
}


def path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def id_operations(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, path, the last path parameter) of every guarded operation naming an object."""
    found = []
    for path, operations in document["paths"].items():
        names = path_names(path)
        for method, operation in operations.items():
            if names and operation.get("x-policy-action"):
                found.append((method, path, names[-1]))
    return found


def test_unknown_ids_are_404_everywhere(fuzz_target: FuzzTarget,
                                        oauth_settings: Settings) -> None:
    """Whatever the id's shape (`True`, a number, Gmail-like hex, a UUID), with the other path
    parameters naming real rows, as a caller the policy lets perform the operation, with a body
    the document accepts: reads and writes alike."""
    document = fuzz_target.app.openapi()
    purposes = purposes_by_action(oauth_settings.policy_dir)
    live = next(r for r in fuzz_target.records if "message_id" in r)  # the connected mailbox
    real = {"mailbox_id": live["mailbox_id"], "message_id": live["message_id"],
            "thread_id": live["thread_id"], "part_id": "1"}
    wrong: list[str] = []
    operations = id_operations(document)
    assert len(operations) > 25
    with requests.Session() as http:
        http.trust_env = False
        for method, path, name in operations:
            action = document["paths"][path][method]["x-policy-action"]
            caller = capable_caller(fuzz_target, action)
            purpose = "user_facing" if "user_facing" in purposes[action] else purposes[action][0]
            for unknown in UNKNOWN:
                # A parent this run has no real row for is unknown as well: still 404.
                values = {n: real.get(n, unknown) for n in path_names(path)}
                url = fuzz_target.base_url + path.format(**{**values, name: unknown})
                body = BODIES.get((method, path))
                response = http.request(
                    method.upper(), url, timeout=30,
                    headers={**caller.headers, "Gateway-Purpose": purpose,
                             "Content-Type": "application/json"},
                    data=json.dumps(body) if body is not None else None)
                if response.status_code != 404:
                    wrong.append(f"{method.upper()} {path} {name}={unknown} as {caller.name}: "
                                 f"{response.status_code} {response.text[:160]}")
    assert not wrong, "\n".join(wrong)


def crm_call(target: FuzzTarget, method: str, path: str, *, purpose: str = "user_facing",
             body: Any = None) -> requests.Response:
    crm = next(c for c in target.callers if c.name == "a.crm")
    live = next(r for r in target.records if "message_id" in r)
    with requests.Session() as http:
        http.trust_env = False
        return http.request(method, target.base_url + path.format(**live), timeout=30,
                            headers={**crm.headers, "Gateway-Purpose": purpose,
                                     "Content-Type": "application/json"},
                            data=json.dumps(body) if body is not None else None)


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/v1/mailboxes/{mailbox_id}/search", {"q": "x", "include_spam_trash": "yes"},
     "include_spam_trash"),
    ("POST", "/v1/mailboxes/{mailbox_id}/search", {"q": "x", "limit": True}, "limit"),
    ("POST", "/v1/mailboxes/{mailbox_id}/search", {"q": "x", "limit": "5"}, "limit"),
    ("POST", "/v1/mailboxes/{mailbox_id}/contact-timeline",
     {"address": "carol@customer.example", "after": 0}, "after"),
    ("POST", "/v1/mailboxes/{mailbox_id}/contact-timeline", {"address": 5}, "address"),
    ("GET", "/v1/mailboxes/{mailbox_id}/messages?before=0.5", None, "before"),
    ("GET", "/v1/mailboxes/{mailbox_id}/messages?unread=yes", None, "unread"),
    ("GET", "/v1/mailboxes/{mailbox_id}/messages?limit=5.0", None, "limit"),
    ("POST", "/v1/webhooks", {"url": "https://crm.example/hook", "active": 1}, "active"),
])
def test_values_are_not_coerced(fuzz_target: FuzzTarget, method: str, path: str, body: Any,
                                field: str) -> None:
    response = crm_call(fuzz_target, method, path, body=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert [e["location"][-1] for e in problem["errors"]] == [field], problem["errors"]


def test_the_same_values_typed_right_are_accepted(fuzz_target: FuzzTarget) -> None:
    """Not vacuous: the refusals above are about the types, not the routes."""
    assert crm_call(fuzz_target, "GET", "/v1/mailboxes/{mailbox_id}/messages?unread=true"
                    "&limit=5&before=2100-01-01T00:00:00Z").status_code == 200
    timeline = crm_call(fuzz_target, "POST", "/v1/mailboxes/{mailbox_id}/contact-timeline",
                        body={"address": "carol@customer.example",
                              "after": "2000-01-01T00:00:00Z", "limit": 5})
    assert timeline.status_code == 200, timeline.text


@pytest.mark.parametrize("purpose", ["<b>x</b>", "advertising'; --", "not-a-purpose"])
def test_an_unknown_purpose_is_not_echoed(fuzz_target: FuzzTarget, purpose: str) -> None:
    response = crm_call(fuzz_target, "GET", "/v1/mailboxes/{mailbox_id}/messages",
                        purpose=purpose)
    assert response.status_code == 400 and response.json()["code"] == "purpose_unknown"
    assert purpose not in response.text
