"""A mailbox's Gmail API client.

`build_client` turns credentials into a `GmailClient` (`gateway.mailboxes.gmail_access.gmail_for`
gets a mailbox's from its sealed tokens: refreshed when near expiry, a dead refresh token flips
the mailbox to `reauth_required`): a googleapiclient resource built from the bundled discovery
document (no network fetch) against `settings.gmail_api_endpoint` (the emulator in dev/test),
and an HTTP timeout.

Every call goes through `GmailClient.execute`, which charges Google's unit cost to the client's
`QuotaBudget` (when one is set) before sending — and settles the charge when the call has ended,
see gateway/gmail/quota.py — and maps Gmail's errors to `GmailError`s. With
a `RetryPolicy` (background work such as sync sets one; request handlers usually do not) it
retries rate limits, 5xx and timeouts with backoff and jitter, honouring Retry-After, and tells
the budget about each 429 so it stops spending until then. Every error answer is counted when it
arrives (`rate_limited`, `server_errors`; each batch member on its own) and every retry when it
is decided (`retries`), and handed to the client's hooks (`on_error`, `on_retry`): the sync
writes them to the mailbox's state and to its metrics right away, whether the step then
succeeds or not.

Batches keep one connection per thread alive between calls. When Google has closed it while it
was idle, the next batch fails while it is being sent (BrokenPipe, connection reset) — nothing
of it was read. `execute_batch` then sends the batch once more on a fresh connection (counted as
a retry of kind `stale_connection`); only a failure on that fresh connection is an error.
httplib2 already does this for single requests, whose few bytes reach the kernel before the
closed connection is noticed.

google-auth refreshes an expired access token inside the HTTP call; its failures are mapped
too: `invalid_grant` (the user revoked access, the token died) goes the way
`gateway.mailboxes.tokens.credentials_for` handles it — the mailbox becomes `reauth_required` and
`MailboxNeedsUser` is raised — any other refusal is `GmailTokenRefreshFailed` (502), and an
unreachable token endpoint `GmailUnreachable` (503, retried like a network error).
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import google_auth_httplib2
import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from gateway.gmail.batch import GmailBatch
from gateway.gmail.costs import cost_of
from gateway.gmail.errors import (
    STALE,
    GmailError,
    GmailRateLimited,
    GmailTokenRefreshFailed,
    GmailUnreachable,
    error_kind,
    from_http_error,
)
from gateway.gmail.retry import RetryHook, RetryPolicy
from gateway.settings import Settings

DEFAULT_TIMEOUT_SECONDS = 30.0
INVALID_GRANT = "invalid_grant"

# Called with the refresh error's code when Google says the grant is dead; raises (normally
# MailboxNeedsUser after flipping the mailbox to reauth_required).
DeadGrantHook = Callable[[str], None]
# Called with each error answer Google gave and how many answers it stands for (batch members).
ErrorHook = Callable[[GmailError, int], None]
# What a kept-alive connection closed by the server fails with while a request is being sent.
STALE_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    BrokenPipeError, ConnectionResetError, ConnectionAbortedError, http.client.RemoteDisconnected)


class QuotaBudget(Protocol):
    """Spends a mailbox's Gmail quota units; may wait until the units are available. What
    `spend` returns is handed to the budget's `settle` (when it has one) once the call ended."""

    def spend(self, units: int) -> object: ...


class GmailClient:
    def __init__(self, service: Any, *, api_endpoint: str, credentials: Credentials,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 budget: QuotaBudget | None = None, retry: RetryPolicy | None = None,
                 on_retry: RetryHook | None = None, on_error: ErrorHook | None = None,
                 on_dead_grant: DeadGrantHook | None = None) -> None:
        self.service = service
        self.on_dead_grant = on_dead_grant
        self.users = service.users()
        self.api_endpoint = api_endpoint.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.budget = budget
        self.units_spent = 0
        self.calls = 0
        self.retry = retry
        self.on_retry = on_retry
        self.on_error = on_error
        self.retries = 0
        self.rate_limited = 0
        self.server_errors = 0
        self._local = threading.local()  # this thread's charges whose call has not ended

    def charge(self, method_id: str, count: int = 1) -> None:
        """Spend the units of the call(s) this thread sends next (waiting for the budget); they
        are settled when that call ends (`_gmail_errors`)."""
        units = cost_of(method_id) * count
        if self.budget is not None:
            ticket = self.budget.spend(units)
            if ticket is not None:
                self._open_charges().append(ticket)
        self.units_spent += units
        self.calls += count

    def _open_charges(self) -> list[object]:
        charges: list[object] | None = getattr(self._local, "charges", None)
        if charges is None:
            charges = self._local.charges = []
        return charges

    def _settle(self) -> None:
        """The call ended (answered or failed): Google has counted its units by now."""
        charges = self._open_charges()
        settle = getattr(self.budget, "settle", None)
        while charges:
            ticket = charges.pop()
            if callable(settle):
                settle(ticket)

    def execute(self, request: HttpRequest) -> Any:
        """Run one request; Gmail's errors become `GmailError`s (`GmailNotFound`,
        `GmailRejected`, `GmailRateLimited`, ...). Retried per `self.retry` when set."""
        if self.retry is None:
            return self._execute_once(request)
        return self.retry.run(lambda: self._execute_once(request), on_retry=self.note_retry)

    def _execute_once(self, request: HttpRequest) -> Any:
        self.charge(str(getattr(request, "methodId", "")))
        with self._gmail_errors():
            return request.execute(num_retries=0)

    @contextmanager
    def _gmail_errors(self) -> Iterator[None]:
        """What a call to Google can raise, as `GmailError`s (one mapping for single calls and
        batches)."""
        try:
            yield
        except HttpError as exc:
            error = from_http_error(exc)
            self.note_errors(error)
            raise error from None
        except RefreshError as exc:
            raise self._refresh_failed(exc) from None
        except (TimeoutError, OSError, httplib2.HttpLib2Error, TransportError) as exc:
            raise _unreachable(exc) from None
        finally:
            self._settle()

    def _refresh_failed(self, exc: RefreshError) -> GmailError:
        """The access token could not be refreshed mid-call (see the module docstring)."""
        code = refresh_error_code(exc)
        if code == INVALID_GRANT and self.on_dead_grant is not None:
            self.on_dead_grant(code)  # raises MailboxNeedsUser
        return GmailTokenRefreshFailed(
            f"Google refused to refresh the access token ({code or 'no error code'})",
            upstream_status=400 if code else 0, reason=code)

    def note_errors(self, exc: GmailError, count: int = 1) -> None:
        """Count error answers as they arrive: rate limits and 5xx (`count` batch members
        answered `exc`)."""
        kind = error_kind(exc)
        if kind == "rate_limited":
            self.rate_limited += count
        elif kind == "server_error":
            self.server_errors += count
        if self.on_error is not None:
            self.on_error(exc, count)

    def note_retry(self, exc: GmailError, delay: float, attempt: int) -> None:
        """Count a retry; after a rate limit, hold the budget back for the delay."""
        self.retries += 1
        if isinstance(exc, GmailRateLimited):
            penalise = getattr(self.budget, "penalise", None)
            if callable(penalise):
                penalise(delay)
        if self.on_retry is not None:
            self.on_retry(exc, delay, attempt)

    def new_batch(self, callback: Callable[[str, Any, HttpError | None], None] | None = None
                  ) -> BatchHttpRequest:
        """A batch aimed at this endpoint (`service.new_batch_http_request()` would use the
        discovery document's Google URL), written and read byte-level (`GmailBatch`, see
        gateway/gmail/batch.py). Charge its members with `charge` before executing."""
        return GmailBatch(callback=callback,
                                batch_uri=f"{self.api_endpoint}/batch/gmail/v1")

    def execute_batch(self, batch: BatchHttpRequest) -> None:
        """Send a batch; once more on a fresh connection when the kept-alive one turns out to
        have been closed by Google (see the module docstring)."""
        with self._gmail_errors():
            http = self.http()
            pooled = _open_connections(http)
            try:
                batch.execute(http=http)
            except STALE_CONNECTION_ERRORS as exc:
                if not pooled:
                    raise
                _close_connections(http)
                self.note_retry(GmailUnreachable(
                    "the kept-alive connection had been closed by Gmail; sent again on a "
                    "fresh one", upstream_status=0,
                    reason=f"{STALE}: {type(exc).__name__}"), 0.0, 1)
                batch.execute(http=http)

    def http(self) -> google_auth_httplib2.AuthorizedHttp:
        """This thread's authorised HTTP client for batches, kept for the client's life so
        consecutive batches reuse one kept-alive connection (one TLS handshake with Google per
        thread, not one per batch). httplib2.Http is not thread-safe: one per thread (a sync
        run fetches on its prefetch thread while its own thread lists pages)."""
        http: google_auth_httplib2.AuthorizedHttp | None = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = google_auth_httplib2.AuthorizedHttp(
                self.credentials, http=httplib2.Http(timeout=self.timeout))
        return http


def refresh_error_code(exc: RefreshError) -> str | None:
    """The OAuth error code ("invalid_grant", ...) google-auth put in a RefreshError."""
    for arg in exc.args[1:]:
        if isinstance(arg, dict) and isinstance(arg.get("error"), str):
            return str(arg["error"])
    return None


def _unreachable(exc: BaseException) -> GmailError:
    return GmailUnreachable(f"Gmail could not be reached: {type(exc).__name__}",
                            upstream_status=0, reason=type(exc).__name__)


def _pool(http: Any) -> dict[str, Any]:
    inner = getattr(http, "http", http)  # google_auth_httplib2.AuthorizedHttp wraps an Http
    connections: dict[str, Any] = getattr(inner, "connections", {})
    return connections


def _open_connections(http: Any) -> bool:
    """Whether the next request goes out on a connection kept alive from an earlier one."""
    return any(getattr(conn, "sock", None) is not None for conn in _pool(http).values())


def _close_connections(http: Any) -> None:
    pool = _pool(http)
    for conn in pool.values():
        conn.close()
    pool.clear()


def build_client(credentials: Credentials, settings: Settings, *,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 budget: QuotaBudget | None = None,
                 retry: RetryPolicy | None = None) -> GmailClient:
    endpoint = settings.gmail_api_endpoint
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout))
    service = build("gmail", "v1", http=http, static_discovery=True, cache_discovery=False,
                    client_options={"api_endpoint": endpoint})
    return GmailClient(service, api_endpoint=endpoint, credentials=credentials,
                       timeout=timeout, budget=budget, retry=retry)
