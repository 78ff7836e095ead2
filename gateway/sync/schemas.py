"""What the API shows of a mailbox's sync: ids, counts, times and error codes (no content)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class FullSyncOut(BaseModel):
    reason: str | None
    started_at: datetime | None
    completed_at: datetime | None
    pages_done: int
    messages_done: int
    completed_count: int


class SyncCountsOut(BaseModel):
    messages_stored: int
    messages_fetched: int
    messages_deleted: int
    label_changes: int


class SyncQuotaOut(BaseModel):
    units_spent: int
    gmail_calls: int
    retries: int  # calls or batches sent again, counted when decided
    rate_limited: int  # rate-limit answers (429; 403 rateLimitExceeded), each batch member
    server_errors: int  # 5xx answers, each batch member


class SyncStateOut(BaseModel):
    mailbox_id: uuid.UUID
    mailbox_state: str
    phase: str
    running: bool
    lease_holder: str | None
    lease_expires_at: datetime | None
    heartbeat_at: datetime | None
    history_id: str | None
    sync_requested_at: datetime | None
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    backoff_seconds: float | None
    next_attempt_at: datetime | None
    retry_after_until: datetime | None
    full_sync: FullSyncOut
    counts: SyncCountsOut
    quota: SyncQuotaOut
