"""One error type, rendered as RFC 9457 problem details with a stable machine-readable code.

Every expected failure (authentication, validation, policy denial, upstream trouble) is a
`GatewayError` subclass; the handlers in `gateway.kit.problem` turn them into
`application/problem+json`. Nothing else ever reaches the client, so no stack trace or secret can.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PROBLEM_BASE = "https://gmail-gateway.dev/problems/"


class GatewayError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.detail = detail or self.title
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.detail)


class AuthenticationError(GatewayError):
    status = 401
    code = "authentication_required"
    title = "Authentication required"

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"})


class ValidationFailed(GatewayError):
    status = 422
    code = "validation_failed"
    title = "The request is not valid"


class BadRequest(GatewayError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class NotFound(GatewayError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(GatewayError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PolicyDenied(GatewayError):
    status = 403
    code = "policy_denied"
    title = "Denied by policy"

    def __init__(
        self,
        reasons: Sequence[str],
        *,
        detail: str | None = None,
        code: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        merged = {"reasons": list(reasons), **(extra or {})}
        super().__init__(detail or "This access is not allowed: " + ", ".join(reasons),
                         code=code, extra=merged)


class PayloadTooLarge(GatewayError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UpstreamError(GatewayError):
    status = 502
    code = "upstream_failure"
    title = "Upstream service failed"


class Unavailable(GatewayError):
    status = 503
    code = "unavailable"
    title = "Service unavailable"
