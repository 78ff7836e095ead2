"""Response and request bodies of the mail API (read side).

Fields a person wrote (subject, addresses, snippet, bodies) are optional in every model: the
policy may tell the enforcement point to redact them (obligation `redact`), and a redacted
field is *absent* from the response (routes serialise with `response_model_exclude_unset`),
with its name listed in `redacted`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.kit.strict import JSON_INTEGER, Instant

_MESSAGE_EXAMPLE: dict[str, Any] = {
    "id": "18c0a1f2e3d4c5b6", "thread_id": "18c0a1f2e3d4c5b6", "view": "metadata",
    "internal_date": "2026-11-10T10:00:00Z", "label_ids": ["INBOX", "UNREAD"], "unread": True,
    "size_estimate": 48213, "attachment_count": 1, "history_id": 90211,
    "subject": "Contract for Q1", "from": ["carol@customer.example"],
    "to": ["alice@tenant-a.example"], "cc": [], "bcc": [], "reply_to": [],
    "snippet": "Hi Alice, please find the signed contract attached.",
    "attachment_names": ["contract.pdf"], "redacted": []}


class Header(BaseModel):
    name: str
    value: str


class AttachmentOut(BaseModel):
    part_id: str = Field(description="MIME part id (Gmail's partId): download it from "
                                     ".../messages/{id}/attachments/{part_id}")
    filename: str | None = None
    mime_type: str
    size: int = Field(description="Decoded size in bytes")


class ReportOut(BaseModel):
    part_id: str = Field(description="The report part (also listed in `attachments`)")
    mime_type: str = Field(description="message/delivery-status (a bounce or delay), "
                                        "message/disposition-notification (a read receipt), "
                                        "message/feedback-report (an abuse report), or their "
                                        "message/global-* forms")
    fields: list[list[Header]] = Field(
        description="The report's field blocks in order: the first about the message "
                    "(Reporting-MTA, Arrival-Date...), each next one about a recipient "
                    "(Final-Recipient, Action, Status, Diagnostic-Code...)")


class MessageOut(BaseModel):
    """One message. `view=metadata` carries ids, dates, labels, sizes and the summary fields;
    `view=content` adds headers, bodies and the attachment list."""

    model_config = ConfigDict(populate_by_name=True,
                              json_schema_extra={"examples": [_MESSAGE_EXAMPLE]})

    id: str = Field(description="Gmail message id")
    thread_id: str
    view: str = Field(default="metadata", description="metadata | content")
    internal_date: datetime
    label_ids: list[str]
    unread: bool
    size_estimate: int
    attachment_count: int
    history_id: int
    subject: str | None = None
    from_: list[str] | None = Field(default=None, alias="from")
    to: list[str] | None = None
    cc: list[str] | None = None
    bcc: list[str] | None = None
    reply_to: list[str] | None = None
    snippet: str | None = None
    attachment_names: list[str] | None = None
    headers: list[Header] | None = Field(default=None, description="content view only")
    text: str | None = Field(default=None, description="content view only: text/plain body")
    html: str | None = Field(default=None, description="content view only: text/html body")
    attachments: list[AttachmentOut] | None = Field(default=None,
                                                    description="content view only")
    reports: list[ReportOut] | None = Field(
        default=None, description="content view only: the machine-readable fields of "
                                  "delivery reports, read receipts and feedback reports")
    redacted: list[str] = Field(default_factory=list,
                                description="Fields the policy withheld from this caller")


class MessagePage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [_MESSAGE_EXAMPLE], "next_cursor": "WyJtZXNzYWdlcyIsIjIwMjYtMTEtMTBUMTA6MDA"}]})

    items: list[MessageOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at "
                                                "the end")


class ThreadSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "18c0a1f2e3d4c5b6", "message_count": 3, "unread_count": 1,
        "attachment_count": 1, "first_message_at": "2026-11-08T08:30:00Z",
        "last_message_at": "2026-11-10T10:00:00Z", "subject": "Re: Contract for Q1",
        "snippet": "Signed, see attached.",
        "participants": ["alice@tenant-a.example", "carol@customer.example"],
        "redacted": []}]})

    id: str = Field(description="Gmail thread id")
    message_count: int
    unread_count: int
    attachment_count: int
    first_message_at: datetime
    last_message_at: datetime
    subject: str | None = Field(default=None, description="Of the newest message")
    snippet: str | None = Field(default=None, description="Of the newest message")
    participants: list[str] | None = Field(
        default=None, description="Distinct From/To/Cc addresses of the thread's newest "
                                  "messages (up to 10 messages); absent when redacted")
    redacted: list[str] = Field(default_factory=list)


class ThreadPage(BaseModel):
    items: list[ThreadSummary]
    next_cursor: str | None


class ThreadOut(BaseModel):
    id: str
    view: str
    message_count: int = Field(description="Messages of this thread in the store")
    messages: list[MessageOut] = Field(description="This page of the thread, oldest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the thread's next "
                                                "messages; null at the end")


SearchQuery = Annotated[str, StringConstraints(min_length=1, max_length=1024,
                                               pattern=r"^[^\x00-\x08\x0a-\x1f\x7f]+$")]
PageToken = Annotated[str, StringConstraints(min_length=1, max_length=512,
                                             pattern=r"^[A-Za-z0-9_\-.=~]+$")]


class SearchRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={"examples": [
        {"q": "from:carol@customer.example has:attachment newer_than:30d", "limit": 25}]})

    q: SearchQuery = Field(description="Gmail search syntax, passed to Gmail as is "
                                       "(https://support.google.com/mail/answer/7190)")
    limit: Annotated[int, Ge(1), Le(100), *JSON_INTEGER] = Field(
        default=25, description="Ids asked of Gmail per page")
    page_token: PageToken | None = Field(default=None,
                                         description="`next_page_token` of the previous page")
    include_spam_trash: bool = Field(default=False, description="Also match SPAM and TRASH")


class SearchResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [_MESSAGE_EXAMPLE], "matched": 2, "not_synced": 1,
        "not_synced_ids": ["18c0a1f2e3d4ffff"], "next_page_token": None,
        "result_size_estimate": 2}]})

    items: list[MessageOut] = Field(description="Matches already in the store, in Gmail's "
                                                "order")
    matched: int = Field(description="Ids Gmail returned for this page")
    not_synced: int = Field(description="Of those, how many are not in the store yet (they "
                                        "appear after the next sync)")
    not_synced_ids: list[str]
    next_page_token: str | None
    result_size_estimate: int | None = None


Address = Annotated[str, StringConstraints(min_length=3, max_length=320, strip_whitespace=True)]


class TimelineRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={"examples": [
        {"address": "carol@customer.example", "limit": 50}]})

    address: Address = Field(description="The contact's address (matched however it was "
                                         "written: case, display name, Gmail dots and +tags)")
    limit: Annotated[int, Ge(1), Le(200), *JSON_INTEGER] = 50
    cursor: Annotated[str, StringConstraints(max_length=400)] | None = None
    after: Instant | None = Field(default=None, description="Only messages at or after "
                                                             "(timezone required)")
    before: Instant | None = Field(default=None, description="Only messages before")


class TimelineItem(MessageOut):
    roles: list[str] = Field(default_factory=list,
                             description="Where the address appears: from, to, cc, bcc")


class TimelinePage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [{**_MESSAGE_EXAMPLE, "roles": ["from"]}], "next_cursor": None}]})

    items: list[TimelineItem]
    next_cursor: str | None
