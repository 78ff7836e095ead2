"""`Caller`: who is behind a request, once authenticated (gateway/accounts/deps.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from gateway.policy.enforcement import Actor
from gateway.policy.refusals import caller_actor


@dataclass(frozen=True)
class Caller:
    """The authenticated principal behind a request: by an API key, or by a page session's
    cookie (`credential="session"`, `api_key_prefix` then holds the session's id)."""

    principal_id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    subject: str
    groups: tuple[str, ...]
    api_key_prefix: str
    credential: str = "api_key"

    def actor(self) -> Actor:
        return caller_actor(self.principal_id, self.tenant_id, self.kind, self.groups,
                            self.api_key_prefix, credential=self.credential)
