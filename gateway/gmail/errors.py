"""Gmail's HTTP errors as gateway problems (docs/errors.md): what the caller may retry, what
they got wrong, what is Google's fault."""

from __future__ import annotations

import json
from typing import Any

from googleapiclient.errors import HttpError

from gateway.kit.errors import GatewayError


class GmailError(GatewayError):
    """Google answered with an error the gateway cannot turn into anything better."""

    status = 502
    code = "gmail_error"
    title = "Gmail returned an error"

    def __init__(self, detail: str | None = None, *, upstream_status: int = 0,
                 reason: str | None = None, retry_after: float | None = None,
                 code: str | None = None) -> None:
        headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
        super().__init__(detail, code=code, headers=headers,
                         extra={"upstream_status": upstream_status, "upstream_reason": reason})
        self.upstream_status = upstream_status
        self.reason = reason
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.upstream_status >= 500 or self.upstream_status in (408, 429)


class GmailNotFound(GmailError):
    """The id does not exist in the user's Gmail (any more)."""

    status = 404
    code = "gmail_not_found"
    title = "Not found in Gmail"


class GmailRejected(GmailError):
    """Gmail refused the request as invalid (bad query, unknown label, malformed message)."""

    status = 422
    code = "gmail_rejected"
    title = "Gmail rejected the request"


class GmailRateLimited(GmailError):
    """The user's Gmail quota or concurrency limit was hit; retry after `retry_after`."""

    status = 503
    code = "gmail_rate_limited"
    title = "Gmail rate limit reached"

    @property
    def retryable(self) -> bool:
        return True


class GmailUnreachable(GmailError):
    """Google could not be reached (network, timeout, token endpoint down); retry later."""

    status = 503
    code = "gmail_unreachable"
    title = "Gmail could not be reached"


class GmailTokenRefreshFailed(GmailError):
    """Google's token endpoint refused a refresh for a reason other than a dead grant."""

    status = 502
    code = "google_token_refresh_failed"
    title = "Google refused to refresh the mailbox's access token"


_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded",
                           "dailyLimitExceeded"})


def _reason_and_message(exc: HttpError) -> tuple[str | None, str]:
    try:
        body: Any = json.loads(exc.content.decode("utf-8", "replace"))
        error = body.get("error", {})
        errors = error.get("errors") or [{}]
        return errors[0].get("reason") or error.get("status"), str(error.get("message", ""))
    except (ValueError, AttributeError, TypeError):
        return None, ""


def _retry_after(exc: HttpError) -> float | None:
    value = exc.resp.get("retry-after") if exc.resp is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def from_http_error(exc: HttpError) -> GmailError:
    status = int(exc.resp.status) if exc.resp is not None else 0
    reason, message = _reason_and_message(exc)
    detail = f"Gmail answered {status}" + (f" ({reason})" if reason else "")
    if message:
        detail += f": {message}"
    kwargs: dict[str, Any] = {"upstream_status": status, "reason": reason,
                              "retry_after": _retry_after(exc)}
    if status == 429 or (status == 403 and reason in _RATE_REASONS):
        return GmailRateLimited(detail, **kwargs)
    if status == 404:
        return GmailNotFound(detail, **kwargs)
    if status == 400:
        return GmailRejected(detail, **kwargs)
    return GmailError(detail, **kwargs)


# The reason given to the error of a batch sent on a kept-alive connection that Google had closed.
STALE = "stale_connection"


def error_kind(exc: GmailError) -> str:
    """What an error was, for counters and metric labels: `rate_limited` (429, or 403 with a
    rate-limit reason), `server_error` (5xx), `timeout` (408, or no answer in time),
    `stale_connection` (a kept-alive connection Google had closed), `network` (anything else
    that kept the call from being answered), `other` (4xx)."""
    if isinstance(exc, GmailRateLimited):
        return "rate_limited"
    if exc.upstream_status >= 500:
        return "server_error"
    if exc.upstream_status == 408 or exc.reason in ("TimeoutError", "timeout"):
        return "timeout"
    if exc.code == "gmail_unreachable":
        return "stale_connection" if (exc.reason or "").startswith(STALE) else "network"
    return "other"


def describe(exc: GmailError) -> str:
    """One line for a mailbox's `last_error`: the code, then what Google answered (status and
    reason) or, when nothing was answered, what happened on the way (the network error)."""
    if exc.upstream_status:
        return f"{exc.code}: upstream {exc.upstream_status} ({exc.reason or 'no reason given'})"
    return f"{exc.code}: no answer from Gmail ({exc.reason or 'unknown network error'})"
