"""Response and request bodies of the mail API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class MailboxOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    owner_principal_id: uuid.UUID
    state: str
    granted_scopes: list[str]
    created_at: datetime
    state_reason: str | None = None
    connected_at: datetime | None = None
    reconnect_url: str | None = None


class MailboxList(BaseModel):
    items: list[MailboxOut]
