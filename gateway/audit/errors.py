"""Failures of the operation log. Each is a `GatewayError`, so wherever it surfaces (the
enforcement point, or a commit whose chaining failed) the caller gets a 503 problem and
nothing is served."""

from __future__ import annotations

from gateway.kit.errors import BadRequest, Unavailable


class OperationLogUnavailable(Unavailable):
    """The operation log could not be written; the access must be refused."""

    code = "operation_log_unavailable"
    title = "Operation log unavailable"

    def __init__(self, detail: str = "the operation log is unavailable; nothing was served"
                 ) -> None:
        super().__init__(detail)


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    title = "Invalid pagination cursor"


class RetentionTooShort(ValueError):
    """The retention period is below the one year the privacy policies promise."""
