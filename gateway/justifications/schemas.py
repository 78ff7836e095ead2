"""Bodies of the justifications API. A case reference is an identifier from the case system
(`SEC-2026-0042`, `LEGAL-7`), never prose: it is stored and logged in clear, so its format
leaves no room for a description of the user; the description goes into `reason`, sealed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from gateway.kit.ids import GmailId
from gateway.kit.strict import JSON_INTEGER, Uuid

# Uppercase ticket-style identifier: a prefix, then 1-4 dash-separated alphanumeric parts.
CASE_REF_PATTERN = r"^[A-Z][A-Z0-9]{1,15}(-[A-Z0-9]{1,24}){1,4}$"
CaseRef = Annotated[str, StringConstraints(pattern=CASE_REF_PATTERN, max_length=64)]
Kind = Literal["security", "legal"]
IdList = Annotated[list[GmailId], Field(max_length=500)]
# A sanity bound only; the configured maximum (GATEWAY_JUSTIFICATION_MAX_HOURS) is checked by
# the service with its own problem code.
MAX_MINUTES_ACCEPTED = 366 * 24 * 60


class JustificationCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    kind: Kind
    case_ref: CaseRef
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10,
                                             max_length=4000)]
    operator_id: Uuid | None = None
    # Printable: it is stored as text and compared with principals' groups (no control bytes,
    # which PostgreSQL text refuses).
    operator_group: Annotated[str, StringConstraints(
        pattern=r"^[^\x00-\x1f\x7f]{1,100}$")] | None = None
    message_ids: IdList = Field(default_factory=list,
                                description="empty with thread_ids empty: the whole mailbox")
    thread_ids: IdList = Field(default_factory=list)
    expires_in_minutes: Annotated[int, Ge(1), Le(MAX_MINUTES_ACCEPTED), *JSON_INTEGER]

    @model_validator(mode="after")
    def _one_operator(self) -> JustificationCreate:
        if (self.operator_id is None) == (self.operator_group is None):
            raise ValueError("name exactly one of operator_id or operator_group")
        return self


class JustifiedAccessOut(BaseModel):
    """One access attempt made under a justification, from the operation log."""

    occurred_at: datetime
    operator_id: str
    action: str
    decision: str
    resource_ids: list[str]
    reasons: list[str]


class JustificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    mailbox_id: uuid.UUID
    operator_principal_id: uuid.UUID | None
    operator_group: str | None
    message_ids: list[str]
    thread_ids: list[str]
    kind: str
    case_ref: str
    reason: str | None = Field(
        default=None, description="reviewers only; null for the mailbox owner and the CRM, "
                                  "and once the mailbox was crypto-shredded")
    recorded_by: uuid.UUID
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: uuid.UUID | None
    status: Literal["active", "expired", "revoked"] = "active"
    accesses: list[JustifiedAccessOut] | None = Field(
        default=None, description="the mailbox view: accesses made under it (newest first)")


class JustificationList(BaseModel):
    items: list[JustificationOut]
