"""Bodies of the page sessions API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field

from gateway.kit.strict import JSON_INTEGER, Uuid


class SessionCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    principal_id: Uuid = Field(description="The end user, operator or reviewer whose pages "
                                           "the link opens (a principal of your tenant)")
    ttl_seconds: Annotated[int, Ge(300), Le(43200), *JSON_INTEGER] | None = Field(
        default=None, description="How long the session lasts once opened (default 3600)")


class SessionLink(BaseModel):
    id: uuid.UUID = Field(description="The session's id (to revoke it)")
    url: str = Field(description="Send the person's browser here, once, within 5 minutes")
    persona: str = Field(description="privacy (end user), desk (operator), console (reviewer)")
    link_expires_at: datetime
    expires_at: datetime = Field(description="When the session ends at the latest")
