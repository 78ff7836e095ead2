"""A mailbox's Gmail API client.

`gmail_for` turns a mailbox into a `GmailClient`: credentials from the sealed tokens (refreshed
when near expiry; a dead refresh token flips the mailbox to `reauth_required`), a googleapiclient
resource built from the bundled discovery document (no network fetch) against
`settings.gmail_api_endpoint` (the emulator in dev/test), and an HTTP timeout.

Every call goes through `GmailClient.execute`, which charges Google's unit cost to the client's
`QuotaBudget` (when one is set) before sending — and settles the charge when the call has ended,
see gateway/gmail/quota.py — and maps Gmail's errors to `GmailError`s. With
a `RetryPolicy` (background work such as sync sets one; request handlers usually do not) it
retries rate limits, 5xx and timeouts with backoff and jitter, honouring Retry-After, and tells
the budget about each 429 so it stops spending until then.

google-auth refreshes an expired access token inside the HTTP call; its failures are mapped
too: `invalid_grant` (the user revoked access, the token died) goes the way
`gateway.oauth.tokens.credentials_for` handles it — the mailbox becomes `reauth_required` and
`MailboxNeedsUser` is raised — any other refusal is `GmailTokenRefreshFailed` (502), and an
unreachable token endpoint `GmailUnreachable` (503, retried like a network error).
"""

from __future__ import annotations

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
from sqlalchemy.orm import Session

from gateway.crypto import CryptoService
from gateway.gmail.batch import GmailBatch
from gateway.gmail.costs import cost_of
from gateway.gmail.errors import (
    GmailError,
    GmailRateLimited,
    GmailTokenRefreshFailed,
    GmailUnreachable,
    from_http_error,
)
from gateway.gmail.retry import RetryHook, RetryPolicy
from gateway.kit.db import Database
from gateway.mail.models import Mailbox
from gateway.settings import Settings

DEFAULT_TIMEOUT_SECONDS = 30.0
INVALID_GRANT = "invalid_grant"

# Called with the refresh error's code when Google says the grant is dead; raises (normally
# MailboxNeedsUser after flipping the mailbox to reauth_required).
DeadGrantHook = Callable[[str], None]


class QuotaBudget(Protocol):
    """Spends a mailbox's Gmail quota units; may wait until the units are available. What
    `spend` returns is handed to the budget's `settle` (when it has one) once the call ended."""

    def spend(self, units: int) -> object: ...


class GmailClient:
    # How batches are written and read; googleapiclient's `BatchHttpRequest` is the same
    # protocol through the email package (bench/sync_bench.py measures one against the other).
    batch_class: type[BatchHttpRequest] = GmailBatch

    def __init__(self, service: Any, *, api_endpoint: str, credentials: Credentials,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 budget: QuotaBudget | None = None, retry: RetryPolicy | None = None,
                 on_retry: RetryHook | None = None,
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
        self.retries = 0
        self.rate_limited = 0
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
            raise from_http_error(exc) from None
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

    def note_retry(self, exc: GmailError, delay: float, attempt: int) -> None:
        """Count a retry; after a rate limit, hold the budget back for the delay."""
        self.retries += 1
        if isinstance(exc, GmailRateLimited):
            self.rate_limited += 1
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
        return self.batch_class(callback=callback,
                                batch_uri=f"{self.api_endpoint}/batch/gmail/v1")

    def execute_batch(self, batch: BatchHttpRequest) -> None:
        with self._gmail_errors():
            batch.execute(http=self.http())

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
                            upstream_status=0)


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


def gmail_for(session: Session, mailbox: Mailbox, *, crypto: CryptoService,
              settings: Settings, database: Database | None = None,
              timeout: float = DEFAULT_TIMEOUT_SECONDS,
              budget: QuotaBudget | None = None,
              retry: RetryPolicy | None = None) -> GmailClient:
    """A Gmail client for `mailbox` (raises `MailboxNeedsUser` when its user must reconnect,
    now or when a refresh during a later call finds the grant dead)."""
    from gateway.oauth.tokens import MailboxNeedsUser, credentials_for, mark_reauth_required

    credentials = credentials_for(session, mailbox, crypto=crypto, settings=settings,
                                  database=database)
    client = build_client(credentials, settings, timeout=timeout, budget=budget, retry=retry)
    mailbox_id = mailbox.id

    def dead_grant(reason: str) -> None:
        # Like credentials_for: committed on its own when a database is given (the caller's
        # transaction may be gone or rolled back), else left in the caller's session.
        if database is not None:
            with database.transaction() as own:
                box = own.get(Mailbox, mailbox_id)
                if box is None:
                    raise LookupError("the mailbox is gone")
                mark_reauth_required(own, box, reason, database=database)
                raise MailboxNeedsUser(box, "Google no longer accepts this mailbox's refresh "
                                            "token; its user must reconnect Gmail",
                                       base_url=settings.public_base_url)
        mark_reauth_required(session, mailbox, reason)
        raise MailboxNeedsUser(mailbox, "Google no longer accepts this mailbox's refresh token; "
                                        "its user must reconnect Gmail",
                               base_url=settings.public_base_url)

    client.on_dead_grant = dead_grant
    return client
