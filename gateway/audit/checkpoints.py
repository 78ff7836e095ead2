"""A checkpoint on request: a reviewer (API) or an operator (CLI) closes every chain's unsigned
tail now instead of waiting for the window. The request is itself an entry of the log
(`audit:checkpoint:requested`), committed with the checkpoints it caused; it lands after them,
so the next checkpoint covers it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.audit.chain import CheckpointPolicy, checkpoint_due_shards
from gateway.audit.operations import Operation


def sign_now(session: Session, policy: CheckpointPolicy, *, requested_by: str) -> int:
    """Sign every chain head with unsigned entries; returns how many were signed."""
    from gateway.audit.writer import log_system_operation

    signed = checkpoint_due_shards(session, policy, force=True)
    log_system_operation(session, Operation.audit_checkpoint_requested, job="audit-checkpoint",
                         purpose="audit_review", action="audit.verify",
                         resource_type="audit_log",
                         detail={"requested_by": requested_by, "signed": signed})
    return signed
