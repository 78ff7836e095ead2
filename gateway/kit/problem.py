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

from gateway.kit.errors import PROBLEM_BASE, GatewayError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_STATUS_CODES = {400: "bad_request", 401: "authentication_required", 403: "forbidden",
                 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
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


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else code
    return problem_response(request, status=exc.status_code, code=code,
                            title=code.replace("_", " ").capitalize(), detail=detail,
                            headers=dict(exc.headers or {}))


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
