"""An allow for an action Google carries out (send, modify, trash, drafts, labels) is logged in
its own transaction: if the request fails after Gmail acted, the rollback must not erase the
record. So is an allow of a read of the store (committed before anything is read). An action that
changes the gateway's own database keeps its entry in the request's transaction, with the
change: both are rolled back together."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.kit.db import Database
from gateway.policy.enforcement import (
    OWN_COMMIT_ACTIONS,
    AccessRequest,
    Actor,
    Enforcer,
    Resource,
    Terminal,
)
from gateway.policy.vocabulary import SCOPE_MODIFY, Action
from gateway.runtime import runtime_of
from tests.support.world import TenantWorld


class _AfterGmail(Exception):
    """Stands for any failure after the handler called Gmail."""


def _request(world: TenantWorld, action: str, purpose: str = "user_facing") -> AccessRequest:
    mailbox = world.mailbox
    return AccessRequest(
        actor=Actor(kind="end_user", id=world.end_user.id, tenant=str(world.tenant.id),
                    connection_id="key:test"),
        purpose=purpose, action=action,
        resource=Resource(type="mailbox", tenant=str(world.tenant.id), mailbox=str(mailbox.id),
                          owner=str(mailbox.owner_principal_id), mailbox_state=mailbox.state,
                          scopes=(*mailbox.granted_scopes, SCOPE_MODIFY)),
        terminal=Terminal(request_id=f"req-{uuid.uuid4().hex}", protocol="https"))


def _entries(db: Database, request_id: str) -> list[AuditEntry]:
    with db.transaction() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.request_id == request_id)))


@pytest.mark.parametrize(("action", "survives"), [
    (Action.message_send.value, True),
    (Action.message_modify.value, True),
    (Action.message_read_metadata.value, True),
    (Action.message_read_content.value, True),
    (Action.data_restrict.value, False),
])
def test_allow_entry_survives_a_rollback_unless_it_belongs_to_a_local_change(
        client: TestClient, db: Database, tenant_a: TenantWorld, action: str,
        survives: bool) -> None:
    assert (action in OWN_COMMIT_ACTIONS) is survives
    enforcer: Enforcer = runtime_of(client.app).enforcer
    req = _request(tenant_a, action,
                   "user_rights" if action == Action.data_restrict.value else "user_facing")
    with pytest.raises(_AfterGmail), db.transaction() as session:
        access = enforcer.authorize(session, req)
        assert access.decision.allow
        raise _AfterGmail
    entries = _entries(db, req.terminal.request_id)
    assert [e.decision for e in entries] == (["allow"] if survives else [])
