"""Exception handlers rendering every error as RFC 9457 problem details (application/problem+json).

Validation errors list the offending fields but never echo the submitted values (a body may
carry a token or message content). Unexpected exceptions become a bare 500 with the request id.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from gateway.kit.app_routes import all_routes
from gateway.kit.errors import PROBLEM_BASE, GatewayError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_STATUS_CODES = {400: "bad_request", 401: "authentication_required", 403: "forbidden",
                 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
                 408: "request_timeout",
                 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
                 422: "validation_failed", 429: "rate_limited"}


def problem_response(request: Request, *, status: int, code: str, title: str, detail: str,
                     extra: dict[str, Any] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
    }
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return problem_response(request, status=exc.status, code=exc.code, title=exc.title,
                            detail=exc.detail, extra=exc.extra, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"location": [str(p) for p in err.get("loc", ())],
               "message": str(err.get("msg", "invalid")), "type": str(err.get("type", ""))}
              for err in exc.errors()]
    return problem_response(request, status=422, code="validation_failed",
                            title="The request is not valid",
                            detail="One or more fields are missing or invalid.",
                            extra={"errors": errors})


def allowed_methods(request: Request) -> str:
    """Every method served at the path template this request's path matches (Starlette's own
    405 names only the methods of the first route matching the path, and each method here is a
    route of its own). A path several templates match (`/messages/send` and
    `/messages/{message_id}`) is the most specific one (fewest parameters), as documented."""
    scope = {**request.scope, "type": "http"}
    matching = [c for c in all_routes(request.app) if c.matches(scope)[0] is not Match.NONE]
    if not matching:
        return ""
    template = min((str(getattr(c, "path", "")) for c in matching), key=lambda p: p.count("{"))
    methods: set[str] = set()
    for candidate in matching:
        if getattr(candidate, "path", None) == template:
            methods |= set(getattr(candidate, "methods", None) or ())
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return ", ".join(sorted(methods, key=lambda m: (order.index(m) if m in order else 99, m)))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else code
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
        detail = f"{request.method} is not served here; see the Allow header"
    return problem_response(request, status=exc.status_code, code=code,
                            title=code.replace("_", " ").capitalize(), detail=detail,
                            headers=headers)


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("storage error: %s", type(exc).__name__)
    return problem_response(request, status=503, code="storage_unavailable",
                            title="Storage unavailable",
                            detail="The database could not complete this request; retry later.")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return problem_response(request, status=500, code="internal_error",
                            title="Internal error",
                            detail="Something went wrong on our side; quote the request id.")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SQLAlchemyError, _storage_error)
    app.add_exception_handler(Exception, _unexpected)
    document_problems(app)


# --- the OpenAPI says what the handlers above send ----------------------------------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details (docs/errors.md). `code` is stable; other members "
                   "(`errors`, `reasons`, ...) depend on the code.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "instance", "request_id"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ProblemFieldError"}},
        "reasons": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": True,
}
PROBLEM_FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ProblemFieldError",
    "type": "object",
    "required": ["location", "message", "type"],
    "properties": {"location": {"type": "array", "items": {"type": "string"}},
                   "message": {"type": "string"}, "type": {"type": "string"}},
}
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_FASTAPI_422_REF = "#/components/schemas/HTTPValidationError"


def add_problem_responses(schema: dict[str, Any]) -> None:
    """Every operation may answer 4XX with a problem (FastAPI's default 422 body, which the
    gateway never sends, is replaced; documented error statuses without a body get the problem
    body); guarded operations may also answer 5XX (fail closed)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    components["ProblemFieldError"] = PROBLEM_FIELD_ERROR_SCHEMA
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            default_422 = responses.get("422", {}).get("content", {}).get("application/json", {})
            if default_422.get("schema", {}).get("$ref") == _FASTAPI_422_REF:
                responses["422"] = {"description": "Validation failed",
                                    "content": _PROBLEM_CONTENT}
            for status, response in responses.items():
                if str(status)[:1] in "45" and isinstance(response, dict):
                    response.setdefault("content", _PROBLEM_CONTENT)
            responses.setdefault("4XX", {"description": "Problem details",
                                         "content": _PROBLEM_CONTENT})
            if "x-policy-action" in operation:
                responses.setdefault("5XX", {"description": "Problem details (fail closed)",
                                             "content": _PROBLEM_CONTENT})
    # FastAPI's own 422 schemas, once nothing refers to them any more.
    for name in ("HTTPValidationError", "ValidationError"):
        others = {k: v for k, v in schema.items() if k != "components"}
        others["schemas"] = {k: v for k, v in components.items() if k != name}
        if f"#/components/schemas/{name}'" not in str(others):
            components.pop(name, None)


def document_problems(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_problem_responses(build())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
