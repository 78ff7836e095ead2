"""Google's error bodies.

Gmail (and every Google JSON API) answers errors as::

    {"error": {"code": 404, "message": "...", "errors": [{"message", "domain", "reason"}],
               "status": "NOT_FOUND"}}

The OAuth endpoints use the RFC 6749 shape instead:
``{"error": "...", "error_description": "..."}``.
"""

from __future__ import annotations

from typing import Any

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class GoogleApiError(Exception):
    """An error answered in Google's JSON API error format."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str,
        domain: str = "global",
        status: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.status = status or _STATUS_NAMES.get(code, "UNKNOWN")
        self.headers = headers or {}
        self.extra = extra or {}
        self.details = details

    def body(self) -> dict[str, Any]:
        item: dict[str, Any] = {"message": self.message, "domain": self.domain,
                                "reason": self.reason}
        item.update(self.extra)
        err: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "errors": [item],
            "status": self.status,
        }
        if self.details:
            err["details"] = self.details
        return {"error": err}


def not_found() -> GoogleApiError:
    return GoogleApiError(404, "Requested entity was not found.", reason="notFound")


def invalid_argument(message: str) -> GoogleApiError:
    return GoogleApiError(400, message, reason="invalidArgument")


def bad_request(message: str) -> GoogleApiError:
    return GoogleApiError(400, message, reason="badRequest")


def failed_precondition(message: str = "Precondition check failed.") -> GoogleApiError:
    return GoogleApiError(400, message, reason="failedPrecondition", status="FAILED_PRECONDITION")


def unauthenticated() -> GoogleApiError:
    return GoogleApiError(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        reason="authError",
        extra={"location": "Authorization", "locationType": "header"},
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                 'error="invalid_token"'},
    )


def insufficient_scopes(method_id: str) -> GoogleApiError:
    return GoogleApiError(
        403,
        "Request had insufficient authentication scopes.",
        reason="insufficientPermissions",
        details=[{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": "gmail.googleapis.com", "method": method_id},
        }],
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                 'error="insufficient_scope"'},
    )


def forbidden(message: str) -> GoogleApiError:
    return GoogleApiError(403, message, reason="forbidden")


def backend_error(code: int = 500) -> GoogleApiError:
    if code == 503:
        return GoogleApiError(503, "The service is currently unavailable.", reason="backendError")
    return GoogleApiError(code, "Internal error encountered.", reason="backendError")


class OAuthError(Exception):
    """An error from the OAuth token/revoke endpoints (RFC 6749 shape)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}
