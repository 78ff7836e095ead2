"""Bodies of the provisioning API (a tenant admin's principals and API keys)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

from gateway.kit.strict import Instant
from gateway.policy.vocabulary import API_KEY_KINDS

PrincipalKind = StrEnum("PrincipalKind", {k: k for k in sorted(API_KEY_KINDS)})  # type: ignore[misc]
KindText = Annotated[PrincipalKind, Strict(False)]
Group = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                         pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class PrincipalCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    kind: KindText = Field(description="end_user, operator, reviewer, crm_service, analytics "
                                       "or tenant_admin")
    subject: Annotated[str, StringConstraints(min_length=1, max_length=320)] = Field(
        description="Your stable id for the person or service (e.g. the CRM's user id or "
                    "e-mail); unique per kind in the tenant")
    display_name: Annotated[str, StringConstraints(max_length=200)] = Field(
        default="", description="The name people see on the pages (operators' names are "
                                "shown to end users in their privacy center)")
    groups: list[Group] = Field(default_factory=list, max_length=20,
                                description="Operator groups a consent grant may name")


class PrincipalOut(BaseModel):
    id: uuid.UUID
    kind: str
    subject: str
    display_name: str
    groups: list[str]
    created_at: datetime
    disabled_at: datetime | None


class PrincipalList(BaseModel):
    items: list[PrincipalOut]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: Annotated[str, StringConstraints(max_length=200)] = Field(
        default="", description="What the key is for (shown in listings)")
    expires_at: Instant | None = Field(default=None, description="When the key stops working")


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    principal_id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyIssued(ApiKeyOut):
    key: str = Field(description="The API key: shown only now, stored only as a keyed hash")


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]
