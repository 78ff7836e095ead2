"""The OpenAPI document states what each operation reads: the API key, the purpose header with
the purposes the policy tables allow for its action, and its parameters' bounds as JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.app import create_app
from gateway.policy.purposes import purposes_by_action
from gateway.settings import Environment, Settings
from tests.support.world import TEST_PEPPER


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = Settings(environment=Environment.test, api_key_pepper=SecretStr(TEST_PEPPER))
    spec: dict[str, Any] = create_app(settings).openapi()
    return spec


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in document["paths"].items()
            for method, op in ops.items()]


def test_guarded_operations_take_the_api_key_and_the_purpose(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    tables = purposes_by_action(Settings(environment=Environment.test).policy_dir)
    guarded = [(m, p, op) for m, p, op in operations(document) if "x-policy-action" in op]
    assert len(guarded) > 50
    for method, path, op in guarded:
        assert op["security"] == [{"ApiKey": []}], (method, path)
        purpose = [p for p in op["parameters"] if p["name"] == "Gateway-Purpose"]
        assert len(purpose) == 1 and purpose[0]["in"] == "header" and purpose[0]["required"]
        allowed = purpose[0]["schema"]["enum"]
        assert allowed == tables[op["x-policy-action"]] and allowed, (method, path)
    public = [(m, p, op) for m, p, op in operations(document) if "x-public" in op]
    assert public and all(op["security"] == [] for _, _, op in public)


def test_reads_list_more_purposes_than_sends(document: dict[str, Any]) -> None:
    def allowed(method: str, path: str) -> set[str]:
        op = document["paths"][path][method]
        return {v for p in op["parameters"] if p["name"] == "Gateway-Purpose"
                for v in p["schema"]["enum"]}

    assert allowed("get", "/v1/mailboxes/{mailbox_id}/messages") >= {"user_facing",
                                                                     "contact_linking"}
    assert allowed("post", "/v1/mailboxes/{mailbox_id}/messages/send") == {"user_facing"}
    assert "advertising" not in allowed("get", "/v1/mailboxes/{mailbox_id}/messages")


def test_parameter_bounds_are_json_schema(document: dict[str, Any]) -> None:
    """`minimum`/`maximum`, never pydantic's own `ge`/`le` (which no client understands)."""
    limits = 0
    for method, path, op in operations(document):
        for parameter in op.get("parameters", []):
            text = json.dumps(parameter["schema"])
            assert not any(f'"{k}":' in text for k in ("ge", "le", "gt", "lt")), (
                method, path, parameter["name"], text)
            if parameter["name"] == "limit":
                limits += 1
                assert parameter["schema"]["minimum"] == 1 and parameter["schema"]["maximum"]
    assert limits >= 8
