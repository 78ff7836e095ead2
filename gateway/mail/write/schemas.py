"""Request and response bodies of the mail API's writes (send, drafts, modify, labels).

Validation here is the first line against header injection: every string that ends up in a
header (subject, display names, addresses, attachment file names and types) is refused with a
422 when it carries a control character (CR, LF, NUL, any C0/C1 control, the Unicode line and
paragraph separators) or is not the shape it claims to be. `gateway.mail.write.compose` checks again
when it builds the message, so a caller that skips these models cannot inject either.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from gateway.kit.ids import GMAIL_ID_PATTERN, LABEL_ID_PATTERN

MAX_RECIPIENTS = 500  # Gmail's per-message recipient limit
MAX_ATTACHMENTS = 100
MAX_SUBJECT_CHARS = 998
MAX_NAME_CHARS = 200
MAX_LABEL_NAME_CHARS = 225

# Refused in anything that becomes a header: C0/C1 controls (Cc: CR, LF, NUL, TAB, DEL, NEL...),
# line/paragraph separators (Zl/Zp) and lone surrogates (Cs).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})

# addr-spec, deliberately stricter than RFC 5322: dot-atom local part of ASCII atext, a domain
# of LDH labels with at least one dot. No quoted local parts, comments, IP literals, routes or
# groups: none of the CRM's users needs them and each is a parsing ambiguity.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"^{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})+$")
_MIME_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_CONTENT_TYPE = re.compile(rf"^{_MIME_NAME}/{_MIME_NAME}$")


def has_forbidden_char(value: str) -> bool:
    return any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in value)


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def header_text(value: str) -> str:
    """A string safe to put in a header: no control characters, no line breaks."""
    if has_forbidden_char(value):
        raise ValueError("control characters and line breaks are not allowed")
    return value


def addr_spec(value: str) -> str:
    """A plain `local@domain` address (ASCII, strict), normalised to its stripped form."""
    value = value.strip()
    if len(value) > 254 or not _ADDR_SPEC.match(value):
        raise ValueError("not a valid email address (expected local@domain)")
    local = value.rsplit("@", 1)[0]
    if len(local) > 64:
        raise ValueError("the local part of an email address is at most 64 characters")
    return value


def mime_type(value: str) -> str:
    value = value.strip().lower()
    if not _CONTENT_TYPE.match(value):
        raise ValueError("not a MIME type (expected type/subtype)")
    if value.split("/", 1)[0] in ("multipart", "message"):
        raise ValueError("multipart/* and message/* attachments are not supported; "
                         "send the file as application/octet-stream")
    return value


def file_name(value: str) -> str:
    header_text(value)
    if not value.strip() or "/" in value or "\\" in value:
        raise ValueError("a file name must be non-empty and without path separators")
    return value


def label_name(value: str) -> str:
    header_text(value)
    if not value.strip():
        raise ValueError("a label name cannot be blank")
    if value != value.strip():
        raise ValueError("a label name cannot start or end with spaces")
    return value


HeaderText = Annotated[str, AfterValidator(header_text)]
AddrSpec = Annotated[str, Field(max_length=254), AfterValidator(addr_spec)]


class Recipient(BaseModel):
    """An address, optionally with a display name. A bare string is read as the address."""

    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={
        "examples": [{"email": "carol@customer.example", "name": "Carol Customer"}]})

    email: AddrSpec
    name: Annotated[HeaderText | None, Field(max_length=MAX_NAME_CHARS)] = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"email": value} if isinstance(value, str) else value


class AttachmentIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    filename: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(file_name)]
    content_type: Annotated[str, Field(max_length=255),
                            AfterValidator(mime_type)] = "application/octet-stream"
    data: str = Field(description="The file's bytes, base64 (standard or URL-safe alphabet)")


class ComposeIn(BaseModel):
    """A message the gateway builds (RFC 5322, UTF-8, MIME) and Gmail sends or keeps as a draft.
    `From` is always the mailbox's own Google account (Gmail sets it)."""

    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={"examples": [{
        "to": [{"email": "carol@customer.example", "name": "Carol Customer"}],
        "cc": ["sales@acme.example"],
        "subject": "Your quote",
        "text": "Hello Carol,\n\nplease find the quote attached.\n",
        "html": "<p>Hello Carol,</p><p>please find the quote attached.</p>",
        "attachments": [{"filename": "quote.pdf", "content_type": "application/pdf",
                         "data": "JVBERi0xLjQK"}],
        "reply_to_message_id": None,
    }]})

    to: list[Recipient] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    cc: list[Recipient] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    bcc: list[Recipient] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    subject: Annotated[HeaderText, Field(max_length=MAX_SUBJECT_CHARS)] = ""
    text: str | None = Field(default=None, description="The plain-text body")
    html: str | None = Field(default=None, description="The HTML body")
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    reply_to_message_id: Annotated[str | None, Field(pattern=GMAIL_ID_PATTERN)] = Field(
        default=None, description="Gmail id of the message this replies to: the reply gets "
        "its In-Reply-To/References headers and joins its Gmail thread")

    @model_validator(mode="after")
    def _bodies(self) -> ComposeIn:
        for body in (self.text, self.html):
            if body is not None and ("\x00" in body or _has_surrogate(body)):
                raise ValueError("bodies cannot contain NUL characters or lone surrogates")
        if len(self.to) + len(self.cc) + len(self.bcc) > MAX_RECIPIENTS:
            raise ValueError(f"at most {MAX_RECIPIENTS} recipients in all")
        return self

    def recipient_count(self) -> int:
        return len(self.to) + len(self.cc) + len(self.bcc)


class SendIn(ComposeIn):
    @model_validator(mode="after")
    def _needs_recipient(self) -> SendIn:
        if self.recipient_count() == 0:
            raise ValueError("name at least one recipient in to, cc or bcc")
        return self


class SentOut(BaseModel):
    """What Gmail answered for a sent message (ids only; no content is echoed)."""

    id: str
    thread_id: str
    label_ids: list[str]
    stored: bool = Field(description="true when the gateway already put the sent message into "
                                     "the encrypted store (the mailbox granted reading)")
    idempotent_replay: bool = Field(
        default=False, description="true when this is the stored answer to an earlier request "
                                   "with the same Idempotency-Key (nothing was sent again)")


class DraftOut(BaseModel):
    id: str
    message_id: str
    thread_id: str


class DraftList(BaseModel):
    items: list[DraftOut]
    next_page_token: str | None = None


class DraftContent(DraftOut):
    subject: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    text: str
    html: str
    attachments: list[dict[str, Any]]


class ModifyIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={
        "examples": [{"add_label_ids": ["Label_7"], "remove_label_ids": ["INBOX"]}]})

    add_label_ids: list[Annotated[str, Field(pattern=LABEL_ID_PATTERN)]] = Field(
        default_factory=list, max_length=100)
    remove_label_ids: list[Annotated[str, Field(pattern=LABEL_ID_PATTERN)]] = Field(
        default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _something(self) -> ModifyIn:
        if not self.add_label_ids and not self.remove_label_ids:
            raise ValueError("name labels to add or remove")
        if set(self.add_label_ids) & set(self.remove_label_ids):
            raise ValueError("a label cannot be both added and removed")
        return self


class MessageLabelsOut(BaseModel):
    id: str
    thread_id: str
    label_ids: list[str]
    unread: bool
    stored: bool = Field(description="true when the stored copy was updated too")


MessageListVisibility = Literal["show", "hide"]
LabelListVisibility = Literal["labelShow", "labelShowIfUnread", "labelHide"]
LabelName = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_NAME_CHARS),
                      AfterValidator(label_name)]


class LabelIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={
        "examples": [{"name": "Clients/Acme", "label_list_visibility": "labelShow"}]})

    name: LabelName
    message_list_visibility: MessageListVisibility | None = None
    label_list_visibility: LabelListVisibility | None = None


class LabelPatch(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={
        "minProperties": 1, "examples": [{"name": "Clients/Acme Corp"}]})

    name: LabelName | None = None
    message_list_visibility: MessageListVisibility | None = None
    label_list_visibility: LabelListVisibility | None = None

    @model_validator(mode="after")
    def _something(self) -> LabelPatch:
        if self.model_fields_set == set() or all(
                getattr(self, f) is None for f in self.model_fields_set):
            raise ValueError("name at least one field to change")
        return self


class LabelOut(BaseModel):
    id: str
    name: str
    type: str
    message_list_visibility: str | None = None
    label_list_visibility: str | None = None


class LabelList(BaseModel):
    items: list[LabelOut]
