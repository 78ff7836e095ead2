"""The review console's log search form: the API's filters (`GET /v1/audit/entries`), typed
into a form and turned into the same `AuditFilter`. Times are ISO 8601; one without a timezone
(what a browser's date-time field sends) is UTC, as the form says."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from gateway.audit.repository import AuditFilter
from gateway.kit.errors import ValidationFailed
from gateway.policy.vocabulary import Action, ActorKind

DECISIONS = ("allow", "deny", "error")
ACTOR_KINDS = tuple(k.value for k in ActorKind)
ACTIONS = tuple(a.value for a in Action)
MAX_TEXT = 64


@dataclass
class SearchForm:
    """What the reviewer typed (every field text, as the form sends it) and each field's
    problem."""

    actor_id: str = ""
    actor_kind: str = ""
    mailbox_id: str = ""
    action: str = ""
    operation: str = ""
    decision: str = ""
    purpose: str = ""
    since: str = ""
    until: str = ""
    flagged: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, params: Mapping[str, str]) -> SearchForm:
        form = cls()
        for name in FILTER_NAMES:
            setattr(form, name, str(params.get(name) or "").strip())
        return form

    def values(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FILTER_NAMES if getattr(self, name)}

    def query_string(self, **extra: str) -> str:
        """The filters (and `extra`) as a query string, for paging and export links."""
        return urlencode({**self.values(), **{k: v for k, v in extra.items() if v}})

    def mailbox(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(self.mailbox_id) if self.mailbox_id else None
        except ValueError:
            return None

    def build(self, tenant_id: uuid.UUID) -> AuditFilter:
        """The API's filter; every problem at once, as a 422 naming each field."""
        errors: dict[str, str] = {}
        for name in ("actor_id", "operation", "purpose"):
            if len(getattr(self, name)) > MAX_TEXT:
                errors[name] = f"at most {MAX_TEXT} characters"
        if self.actor_kind and self.actor_kind not in ACTOR_KINDS:
            errors["actor_kind"] = "one of " + ", ".join(ACTOR_KINDS)
        if self.action and self.action not in ACTIONS:
            errors["action"] = "a policy action such as mail.message.read_content"
        if self.decision and self.decision not in DECISIONS:
            errors["decision"] = "one of allow, deny, error"
        if self.mailbox_id and self.mailbox() is None:
            errors["mailbox_id"] = "a mailbox id (UUID)"
        if self.flagged and self.flagged not in ("true", "false"):
            errors["flagged"] = "true or false"
        since, until = _instant(self.since, "since", errors), _instant(self.until, "until", errors)
        if since and until and since >= until:
            errors["until"] = "after the start of the range"
        if errors:
            self.errors = errors
            raise ValidationFailed("the search is not valid", extra={"errors": [
                {"location": ["query", name], "message": message, "type": "value_error"}
                for name, message in errors.items()]})
        return AuditFilter(tenant_id=tenant_id, mailbox_id=self.mailbox(),
                           actor_id=self.actor_id or None, actor_kind=self.actor_kind or None,
                           action=self.action or None, operation=self.operation or None,
                           decision=self.decision or None, purpose=self.purpose or None,
                           since=since, until=until,
                           flagged=None if not self.flagged else self.flagged == "true")


FILTER_NAMES = tuple(f.name for f in fields(SearchForm) if f.name != "errors")


def _instant(raw: str, name: str, errors: dict[str, str]) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        errors[name] = "a date and time, such as 2026-12-07T09:30 (UTC)"
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def field_choices() -> dict[str, Any]:
    """The fixed choices the form offers (actor kinds, actions, decisions)."""
    return {"actor_kinds": ACTOR_KINDS, "actions": ACTIONS, "decisions": DECISIONS}
