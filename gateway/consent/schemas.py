"""Bodies of the consent API. Message and thread ids are Gmail ids (hex strings)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from gateway.kit.ids import GmailId
from gateway.kit.strict import JSON_INTEGER, Uuid

IdList = Annotated[list[GmailId], Field(max_length=500)]
Minutes = Annotated[int, Ge(1), Le(7 * 24 * 60), *JSON_INTEGER]


class Scope(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    message_ids: IdList = Field(default_factory=list)
    thread_ids: IdList = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_something(self) -> Scope:
        if not self.message_ids and not self.thread_ids:
            raise ValueError("name at least one message id or thread id")
        return self


class GrantCreate(Scope):
    operator_id: Uuid | None = None
    operator_group: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    purpose: Annotated[str, StringConstraints(pattern=r"^support$")] = "support"
    expires_in_minutes: Minutes = 60

    @model_validator(mode="after")
    def _one_grantee(self) -> GrantCreate:
        if (self.operator_id is None) == (self.operator_group is None):
            raise ValueError("name exactly one of operator_id or operator_group")
        return self


class RequestCreate(Scope):
    justification: Annotated[str, StringConstraints(min_length=10, max_length=2000)]
    requested_minutes: Minutes = 60


class RequestDecision(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    approve: bool
    expires_in_minutes: Minutes | None = None


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    mailbox_id: uuid.UUID
    operator_principal_id: uuid.UUID | None
    operator_group: str | None
    message_ids: list[str]
    thread_ids: list[str]
    purpose: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    request_id: uuid.UUID | None
    status: str = "active"


class RequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    mailbox_id: uuid.UUID
    operator_principal_id: uuid.UUID
    message_ids: list[str]
    thread_ids: list[str]
    purpose: str
    justification: str | None = Field(
        description="the operator's reason, sealed at rest; null once the mailbox was erased")
    requested_minutes: int
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    grant_id: uuid.UUID | None


class HumanAccessOut(BaseModel):
    occurred_at: datetime
    operator_id: str
    action: str
    purpose: str
    decision: str
    resource_ids: list[str]
    reasons: list[str]


class ConsentOverview(BaseModel):
    grants: list[GrantOut]
    requests: list[RequestOut]
    human_accesses: list[HumanAccessOut]
