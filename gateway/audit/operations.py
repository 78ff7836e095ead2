"""Typed operation names: `domain:object:verb`, never free text and never content.

Requests guarded by the enforcement point log their policy action as the operation
(`mail.message.read_content` → `mail:message:read_content`); background work and lifecycle
events use the names below. `OPERATION_NAME` is what `OperationLog.append` accepts.
"""

from __future__ import annotations

import re
from enum import StrEnum

OPERATION_NAME = re.compile(r"^[a-z][a-z0-9_]*(:[a-z][a-z0-9_]*){1,3}$")


class Operation(StrEnum):
    # synchronisation with Gmail (system actor)
    sync_full = "sync:mailbox:full_sync"
    sync_incremental = "sync:mailbox:incremental_sync"
    sync_push_received = "sync:push:received"
    sync_watch_renewed = "sync:watch:renewed"
    # Google OAuth
    oauth_grant_created = "oauth:grant:created"
    oauth_grant_revoked = "oauth:grant:revoked"
    oauth_token_refreshed = "oauth:token:refreshed"  # noqa: S105 - a name, not a secret
    oauth_token_invalid = "oauth:token:invalid_grant"  # noqa: S105 - a name, not a secret
    # human access consent (Limited Use rule 6)
    consent_grant_created = "consent:grant:created"
    consent_grant_revoked = "consent:grant:revoked"
    consent_grant_expired = "consent:grant:expired"
    # keys and encryption
    keys_kek_rotated = "keys:kek:rotated"
    keys_data_key_shredded = "keys:data_key:shredded"
    # users' rights
    data_exported = "data:mailbox:exported"
    data_deleted = "data:mailbox:deleted"
    data_restricted = "data:mailbox:restricted"
    # the log itself
    audit_log_purged = "audit:log:purged"
    audit_signing_key_rotated = "audit:signing_key:rotated"
    audit_checkpoint_requested = "audit:checkpoint:requested"


def is_operation_name(value: str) -> bool:
    return len(value) <= 64 and OPERATION_NAME.match(value) is not None
