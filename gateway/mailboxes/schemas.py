"""Response bodies of the mailbox routes (gateway.mailboxes.router)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from gateway.mailboxes.scopes import Feature


class MailboxOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "5b0c3c4e-8f7a-4a43-9d51-1d7f0e0b2a11",
        "owner_principal_id": "0f4e2a52-9c0e-4f5b-8a0d-3c1b2e4d5f60", "state": "active",
        "granted_scopes": ["https://www.googleapis.com/auth/gmail.readonly"],
        "features": ["read"], "missing_features": ["send", "organise", "labels"],
        "email_address": "alice@example.com", "created_at": "2026-11-01T09:00:00Z",
        "state_reason": None, "connected_at": "2026-11-01T09:01:10Z", "reconnect_url": None,
        "redacted": []}]})

    id: uuid.UUID
    owner_principal_id: uuid.UUID
    state: str = Field(description="active | reauth_required | restricted | disconnected")
    granted_scopes: list[str]
    features: list[Feature] = Field(
        default_factory=list, description="What the granted scopes enable (docs/oauth.md)")
    missing_features: list[Feature] = Field(
        default_factory=list, description="Features the user did not grant; ask for them "
                                          "again with POST reconnect_url / .../reconnect")
    email_address: str | None = Field(
        default=None, description="The connected Google address (absent when redacted)")
    created_at: datetime
    state_reason: str | None = None
    connected_at: datetime | None = None
    reconnect_url: str | None = Field(
        default=None, description="Set when the user must reconnect (reauth_required, "
                                  "disconnected): POST it for a fresh consent link")
    redacted: list[str] = Field(default_factory=list)


class MailboxList(BaseModel):
    items: list[MailboxOut]
