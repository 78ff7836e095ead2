"""Checkpoints for idle chains as a periodic task of the sync worker (`gmail-gateway worker`).

A commit signs its chain when it makes it due (`audit_checkpoint_every` entries or
`audit_checkpoint_seconds` since the last checkpoint); a chain that then goes idle would keep
its unsigned tail until the next append. Every worker sweeps the heads every
`SWEEP_INTERVAL_SECONDS`, so a tail is signed within about `audit_checkpoint_seconds` plus that.
Concurrent sweeps are safe: heads are taken with SKIP LOCKED and only due ones are signed.
"""

from __future__ import annotations

from gateway.audit.chain import checkpoint_due_shards
from gateway.sync.steps import SyncServices
from gateway.sync.worker import register_periodic

CHECKPOINT_TASK = "audit-checkpoint"
SWEEP_INTERVAL_SECONDS = 2.0


def sign_due_heads(services: SyncServices) -> int:
    policy = services.enforcer.oplog.checkpoints
    if policy is None:
        return 0
    with services.database.transaction() as session:
        return checkpoint_due_shards(session, policy)


def install() -> None:
    register_periodic(CHECKPOINT_TASK, SWEEP_INTERVAL_SECONDS, sign_due_heads)
