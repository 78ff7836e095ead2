"""The Gmail calls sync makes, through `GmailClient` (quota charged, errors mapped, retried):
one `messages.list` page, `messages.get` batches (≤ 50 per batch, each member charged and retried
on its own), all pages of `history.list`, `labels.list`, `getProfile`."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from googleapiclient.errors import HttpError

from gateway.gmail.client import GmailClient
from gateway.gmail.errors import GmailError, GmailNotFound, error_kind, from_http_error
from gateway.gmail.retry import RetryPolicy, is_retryable

MAX_BATCH = 50  # Google: batches > 50 are not recommended (and trip per-user concurrency)
LIST_PAGE = 500
# The first page of a full sync is small so that the newest mail is stored and committed (and
# readable through the API) after two batches, not after a 500-id page has been listed.
FIRST_PAGE = 100


def profile_history_id(client: GmailClient) -> int:
    profile = client.execute(client.users.getProfile(userId="me"))
    return int(profile["historyId"])


def list_labels(client: GmailClient) -> list[dict[str, Any]]:
    labels: list[dict[str, Any]] = client.execute(
        client.users.labels().list(userId="me")).get("labels", [])
    return labels


@dataclass
class Page:
    refs: list[tuple[str, str]]  # (message id, thread id), newest first
    next_token: str | None


def list_page(client: GmailClient, token: str | None, size: int = LIST_PAGE) -> Page:
    response = client.execute(client.users.messages().list(
        userId="me", maxResults=size, pageToken=token, includeSpamTrash=True,
        fields="messages(id,threadId),nextPageToken"))
    refs = [(m["id"], m["threadId"]) for m in response.get("messages", [])]
    return Page(refs, response.get("nextPageToken") or None)


@dataclass
class Fetched:
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # gmail id → resource
    missing: set[str] = field(default_factory=set)  # 404: gone from Gmail meanwhile


def get_batch(client: GmailClient, ids: list[str], retry: RetryPolicy, *,
              fmt: str = "raw") -> Fetched:
    """`messages.get` for up to `MAX_BATCH` ids in one HTTP batch; members that fail with a
    retryable error are sent again (backoff, Retry-After), 404s are reported as missing."""
    if len(ids) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} messages per batch")
    out = Fetched()
    pending = list(ids)
    attempt = 0
    failures: dict[str, GmailError] = {}

    def collect(request_id: str, response: Any, exception: HttpError | None) -> None:
        if exception is None:
            out.messages[request_id] = response
        elif isinstance(exception, HttpError):
            failures[request_id] = from_http_error(exception)
        else:
            failures[request_id] = GmailError(str(exception), code="gmail_unreachable",
                                              reason=type(exception).__name__)

    messages = client.users.messages()  # building a discovery resource costs ~10 ms
    while pending:
        failures.clear()
        batch = client.new_batch(callback=collect)
        for gmail_id in pending:
            batch.add(messages.get(userId="me", id=gmail_id, format=fmt), request_id=gmail_id)
        client.charge("gmail.users.messages.get", len(pending))
        try:
            client.execute_batch(batch)
        except GmailError as exc:  # the batch as a whole (already counted by the client)
            if not is_retryable(exc):
                raise
            failures.update({g: exc for g in pending if g not in out.messages})
        else:
            _note_member_errors(client, failures)
        retry_now: list[str] = []
        worst: GmailError | None = None
        for gmail_id, error in failures.items():
            if isinstance(error, GmailNotFound):
                out.missing.add(gmail_id)
            elif is_retryable(error):
                retry_now.append(gmail_id)
                if worst is None or (error.retry_after or 0) > (worst.retry_after or 0):
                    worst = error
            else:
                raise error
        pending = retry_now
        if pending and worst is not None:
            attempt += 1
            if attempt >= retry.max_attempts:
                raise worst
            wait = retry.delay(attempt - 1, worst.retry_after)
            client.note_retry(worst, wait, attempt)
            retry.sleep(wait)
    return out


def _note_member_errors(client: GmailClient, failures: dict[str, GmailError]) -> None:
    """Count the members' error answers (one call to the client per kind of answer)."""
    groups: dict[tuple[str, int], list[GmailError]] = {}
    for error in failures.values():
        if not isinstance(error, GmailNotFound):
            groups.setdefault((error_kind(error), error.upstream_status), []).append(error)
    for errors in groups.values():
        client.note_errors(errors[0], len(errors))


def raw_bytes(resource: dict[str, Any]) -> bytes:
    data = str(resource["raw"])
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


@dataclass
class HistoryBatch:
    records: list[dict[str, Any]]
    latest: int


def history_since(client: GmailClient, start: int) -> HistoryBatch:
    """Every history record after `start` (all pages). `GmailNotFound`: the history expired."""
    records: list[dict[str, Any]] = []
    token: str | None = None
    latest = start
    while True:
        response = client.execute(client.users.history().list(
            userId="me", startHistoryId=str(start), pageToken=token, maxResults=500))
        records.extend(response.get("history", []))
        latest = max(latest, int(response.get("historyId", start)))
        token = response.get("nextPageToken") or None
        if token is None:
            return HistoryBatch(records, latest)
