"""Bodies of the connection API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

from gateway.kit.strict import Uuid
from gateway.mailboxes.scopes import Feature

ReturnUrl = Annotated[str, StringConstraints(min_length=8, max_length=2000)]

FeatureText = Annotated[Feature, Strict(False)]


class ConnectRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    end_user_id: Uuid | None = Field(
        default=None, description="The end user whose Gmail is connected; omit when the caller "
                                  "is that end user")
    features: list[FeatureText] = Field(min_length=1, max_length=len(Feature),
                                    description="What the CRM wants to do with the mailbox")
    return_url: ReturnUrl | None = Field(
        default=None, description="Where the user's browser goes back to, with the outcome in "
        "its query; must start with an allow-listed prefix. Omitted: the gateway shows its own "
        "result page (granted and missing features, or why it failed and a retry link)")


class ReconnectRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    features: list[FeatureText] = Field(default_factory=list, max_length=len(Feature),
                                    description="Features to add; the mailbox's current ones "
                                                "are asked for again anyway")
    return_url: ReturnUrl | None = Field(
        default=None, description="As in POST /v1/connect; omitted: the gateway's result page")


class ConsentLinkOut(BaseModel):
    consent_url: str = Field(description="Send the user's browser here (single use)")
    expires_at: datetime
    features: list[Feature]


class TokenStatus(BaseModel):
    refreshed_at: datetime
    access_expires_at: datetime | None
    invalid_at: datetime | None
    invalid_reason: str | None


class ConnectionOut(BaseModel):
    mailbox_id: uuid.UUID
    state: str
    state_reason: str | None
    granted_scopes: list[str]
    features_enabled: list[Feature]
    features_disabled: list[Feature]
    connected_at: datetime | None
    sync_requested_at: datetime | None
    token: TokenStatus | None
    reconnect_url: str | None


class DisconnectOut(BaseModel):
    mailbox_id: uuid.UUID
    state: str
    revoked_at_google: str = Field(description="revoked | already_invalid | failed | no_token; "
                                               "on failed, the user can remove access in their "
                                               "Google account")
    tokens_deleted: bool
    data_deleted: bool
