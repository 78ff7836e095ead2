"""The operation log's periodic jobs, run by the scheduler (`gmail-gateway scheduler`,
gateway/scheduler/jobs.py) and by the `audit` commands:

- `sign_due_heads`: checkpoints for idle chains. A commit signs its chain when it makes it due
  (`audit_checkpoint_every` entries or `audit_checkpoint_seconds` since the last checkpoint); a
  chain that then goes idle would keep its unsigned tail until the next append. The scheduler
  sweeps the heads every few seconds, so a tail is signed within about
  `audit_checkpoint_seconds` plus that. Concurrent sweeps are safe: heads are taken with
  SKIP LOCKED and only due ones are signed.
- `purge_log`: the retention purge, as the purge role (daily).
- `maintain_log`: partitions months ahead and the chain heads, as the owner role (monthly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.audit.chain import checkpoint_due_shards, ensure_heads
from gateway.audit.partitions import ensure_partitions
from gateway.kit.db import Database
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.audit.chain import CheckpointPolicy
    from gateway.audit.retention import PurgeReport


def sign_due_heads(database: Database, policy: CheckpointPolicy | None) -> int:
    """Sign every chain whose checkpoint is due under `policy` (none without one)."""
    if policy is None:
        return 0
    with database.transaction() as session:
        return checkpoint_due_shards(session, policy)


def purge_log(database: Database, settings: Settings, *, dry_run: bool = False) -> PurgeReport:
    """Remove entries past `audit_retention_days` and sign an anchor (nothing with `dry_run`)."""
    from gateway.audit.retention import purge
    from gateway.audit.signing import load_signer, load_trusted_keys

    with database.transaction() as session:
        report = purge(session, retention_days=settings.audit_retention_days,
                       signer=load_signer(settings), trusted=load_trusted_keys(settings),
                       dry_run=dry_run)
        if dry_run:
            session.rollback()
    return report


def maintain_log(database: Database, settings: Settings, *,
                 months_ahead: int = 3) -> dict[str, Any]:
    """Create the log's monthly partitions `months_ahead` ahead and any missing chain head."""
    with database.transaction() as session:
        created = ensure_partitions(session, months_ahead=months_ahead)
        ensure_heads(session, settings.audit_shards)
    return {"partitions_created": created, "shards": settings.audit_shards}
