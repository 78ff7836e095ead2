"""Bodies of the webhook endpoints API. The signing secret appears in exactly two responses:
creating an endpoint and rotating its secret."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from gateway.outbox.models import EventType
from gateway.webhooks.urls import MAX_URL_LENGTH

Url = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH)]
Description = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{0,200}$")]
EventTypes = Annotated[list[Annotated[EventType, Strict(False)]], Field(
    max_length=len(EventType), description="Event types to receive; empty: all of them")]

_EXAMPLE_URL = "https://crm.example.com/hooks/gmail"


class EndpointCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={"examples": [
        {"url": _EXAMPLE_URL, "event_types": ["message.created", "mailbox.state_changed"],
         "description": "CRM inbox sync"}]})

    url: Url = Field(description="https (plain http only to localhost outside production)")
    event_types: EventTypes = Field(default_factory=list)
    description: Description | None = None
    active: bool = True


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={
        "minProperties": 1, "examples": [{"active": False}]})

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> EndpointUpdate:
        if not self.model_fields_set:
            raise ValueError("change at least one of url, event_types, description, active")
        return self


class EndpointOut(BaseModel):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    active: bool
    secret_version: int
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="The signing secret, shown only now: store it")


class EndpointList(BaseModel):
    items: list[EndpointOut]


class AttemptOut(BaseModel):
    attempt: int
    at: str
    status_code: int | None
    error: str | None
    duration_ms: int
    retry_in_seconds: float | None


class DeliveryOut(BaseModel):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str = Field(description="pending | delivered | dead")
    attempts: int
    next_attempt_at: datetime | None = Field(description="when pending: the next try")
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptOut]
    payload: dict[str, Any] = Field(description="The event body (ids and metadata only)")


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
