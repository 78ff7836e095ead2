"""What the OpenAPI document adds to what FastAPI derives from the routes: the API-key security
scheme on every guarded operation, and the `Gateway-Purpose` header those operations read (not a
FastAPI parameter: `gateway.accounts.deps.stated_purpose` reads it, so its refusals keep their
own codes), with the purposes the policy tables allow for the operation's action. A client
generated from the document then sends both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI

from gateway.accounts.deps import PURPOSE_HEADER
from gateway.guard.routing import POLICY_ACTION_KEY
from gateway.policy.vocabulary import PERMITTED_PURPOSES

SECURITY_SCHEME = "ApiKey"
SECURITY_SCHEME_SPEC: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "gmgw_...",
    "description": "An API key of one of the tenant's principals (docs/mail-api.md), "
                   "sent as `Authorization: Bearer <key>`.",
}
PURPOSE_DESCRIPTION = (
    "Why this request is made (docs/policy.md): one of the purposes the policy allows for this "
    "operation's action. Sent once; the policy still decides per caller and mailbox. A missing "
    "header answers 400 `purpose_required`, one outside the registry 400 `purpose_unknown`, a "
    "declared one the policy refuses 403.")


def add_contract(schema: dict[str, Any], purposes: Mapping[str, Sequence[str]]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = SECURITY_SCHEME_SPEC
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            action = operation.get(POLICY_ACTION_KEY)
            if action is None:
                operation["security"] = []
                continue
            operation["security"] = [{SECURITY_SCHEME: []}]
            allowed = list(purposes.get(action) or sorted(PERMITTED_PURPOSES))
            parameters = operation.setdefault("parameters", [])
            parameters[:] = [p for p in parameters if p.get("name") != PURPOSE_HEADER]
            parameters.append({
                "name": PURPOSE_HEADER, "in": "header", "required": True,
                "description": PURPOSE_DESCRIPTION,
                "schema": {"type": "string", "enum": allowed, "title": "Purpose"},
            })


def document_contract(app: FastAPI, purposes: Mapping[str, Sequence[str]]) -> None:
    """Wraps `app.openapi` (after `gateway.kit.problem.document_problems`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_contract(build(), purposes)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
