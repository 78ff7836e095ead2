"""The store opens sealed mail only with an `Access` the enforcement point minted on an allow,
and only for what that decision allowed (only an allow yields what the encrypted store needs to
decrypt). The routes' tests show it from outside; these present the store with the
wrong proof directly, through the real Enforcer (real OPA server, real operation log)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.kit.db import Database
from gateway.kit.errors import PolicyDenied
from gateway.mail.models import Message
from gateway.mail.store.repository import AccessMismatch, MessageStore
from gateway.policy.contract import Decision
from gateway.policy.enforcement import (
    Access,
    AccessRequest,
    Actor,
    Enforcer,
    Resource,
    Terminal,
)
from gateway.policy.vocabulary import SCOPE_READONLY
from gateway.runtime import runtime_of
from tests.mail.factories import make_raw, store_message
from tests.support.world import TenantWorld

BODY = "only an allow opens this"


def _request(world: TenantWorld, action: str, *, kind: str = "crm_service",
             ids: tuple[str, ...] = (), thread: str | None = None) -> AccessRequest:
    actor = world.crm if kind == "crm_service" else world.operator
    return AccessRequest(
        actor=Actor(kind=kind, id=actor.id, tenant=str(world.tenant.id),
                    connection_id="test-store-access"),
        purpose="user_facing" if kind == "crm_service" else "support", action=action,
        resource=Resource(type="message", tenant=str(world.tenant.id),
                          mailbox=str(world.mailbox.id), owner=world.end_user.id, ids=ids,
                          thread_id=thread, mailbox_state="active", scopes=(SCOPE_READONLY,)),
        terminal=Terminal(request_id="test-store-access", protocol="test"))


def test_an_access_is_minted_only_by_the_enforcement_point(tenant_a: TenantWorld) -> None:
    request = _request(tenant_a, "mail.message.read_content", ids=("s1",))
    forged = Decision(True, ("allow_crm_service",), "sha256:forged", "none")
    with pytest.raises(PermissionError):
        Access(object(), request, forged)


@pytest.mark.clause("pp.encryption")
def test_the_store_opens_only_what_the_decision_allowed(
        client: TestClient, db: Database, tenant_a: TenantWorld, tenant_b: TenantWorld) -> None:
    crypto = runtime_of(client.app).crypto
    enforcer: Enforcer = runtime_of(client.app).enforcer
    store = MessageStore(crypto)
    ids = {
        "s1": store_message(db, crypto, tenant_a.mailbox, "s1", "ts1",
                            make_raw("First", BODY)).id,
        "s2": store_message(db, crypto, tenant_a.mailbox, "s2", "ts2",
                            make_raw("Second", BODY)).id,
        "b1": store_message(db, crypto, tenant_b.mailbox, "b1", "tb1",
                            make_raw("Tenant B", BODY)).id,
    }
    with db.transaction() as session:
        messages = {name: session.get(Message, pk) for name, pk in ids.items()}
        s1, s2, b1 = messages["s1"], messages["s2"], messages["b1"]
        assert s1 is not None and s2 is not None and b1 is not None
        content = enforcer.authorize(session, _request(
            tenant_a, "mail.message.read_content", ids=("s1",), thread="ts1"))
        metadata = enforcer.authorize(session, _request(
            tenant_a, "mail.message.read_metadata", ids=("s1",)))

        assert BODY in store.content_view(session, content, s1)["text"]
        assert store.metadata_view(session, metadata, s1)["id"] == "s1"

        with pytest.raises(AccessMismatch, match="content decision"):
            store.content_view(session, metadata, s1)
        with pytest.raises(AccessMismatch, match="content decision"):
            store.raw_bytes(session, metadata, s1)
        with pytest.raises(AccessMismatch, match="other messages"):
            store.content_view(session, content, s2)
        with pytest.raises(AccessMismatch, match="another mailbox"):
            store.metadata_view(session, content, b1)

        # A refusal yields no Access at all: an operator without a grant for the message.
        with pytest.raises(PolicyDenied):
            enforcer.authorize(session, _request(
                tenant_a, "mail.message.read_content", kind="operator", ids=("s1",),
                thread="ts1"))
