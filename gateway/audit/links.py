"""The chain's values: an entry waiting for its position (`PendingLink`), a chain head
(`HeadState`), when to sign a checkpoint (`CheckpointPolicy`) and what a checkpoint signs
(`checkpoint_fields`). Shared by the commit-time link (`chain`) and its PostgreSQL fast path
(`pg_fastpath`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.audit.canonical import micros
from gateway.audit.signing import AuditSigner
from gateway.kit.timeutil import as_utc


@dataclass(frozen=True)
class PendingLink:
    """An entry inserted in this transaction, waiting for its chain position."""

    entry_id: uuid.UUID
    occurred_at: datetime
    content: bytes


@dataclass(frozen=True)
class CheckpointPolicy:
    """Sign a checkpoint every `every` entries or `seconds` seconds, whichever comes first."""

    signer: AuditSigner
    every: int = 1000
    seconds: float = 60.0

    def due(self, head: HeadState, now: datetime) -> bool:
        if head.seq <= head.checkpoint_seq:
            return False
        if head.seq - head.checkpoint_seq >= self.every or head.checkpointed_at is None:
            return True
        return now - as_utc(head.checkpointed_at) >= timedelta(seconds=self.seconds)


@dataclass
class HeadState:
    shard: int
    seq: int
    entry_hash: bytes
    checkpoint_seq: int
    checkpointed_at: datetime | None


def checkpoint_fields(shard: int, seq: int, entry_hash: bytes, signed_at: datetime,
                      key_id: str) -> dict[str, Any]:
    return {"shard": shard, "seq": seq, "entry_hash": entry_hash.hex(),
            "signed_at": micros(signed_at), "key_id": key_id}
