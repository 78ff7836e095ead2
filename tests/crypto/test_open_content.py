"""User content opens only under an `Access` the enforcement point minted for its mailbox; the
gateway's own secrets open only through their own path, which refuses user content. Through
the app's real Enforcer (real OPA server, real operation log) and its CryptoService."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from fastapi.testclient import TestClient

from gateway.crypto import Binding, CryptoService, OpeningRefused
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from gateway.policy.enforcement import Access, AccessRequest, Actor, Enforcer, Resource, Terminal
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of
from gateway.sync.gate import SyncGate
from tests.support.world import TenantWorld

SECRET = "only an allow opens this"


def _crm_request(world: TenantWorld, action: Action, mailbox: str | None) -> AccessRequest:
    return AccessRequest(
        actor=Actor(kind="crm_service", id=world.crm.id, tenant=str(world.tenant.id),
                    connection_id="test-open-content"),
        purpose="user_facing", action=action.value,
        resource=Resource(type="mailbox", tenant=str(world.tenant.id), mailbox=mailbox,
                          owner=world.end_user.id if mailbox else None, mailbox_state="active",
                          scopes=tuple(world.mailbox.granted_scopes or ())),
        terminal=Terminal(request_id="test-open-content", protocol="test"))


def test_content_opens_only_under_an_access_covering_its_mailbox(
        client: TestClient, db: Database, tenant_a: TenantWorld, tenant_b: TenantWorld) -> None:
    crypto: CryptoService = runtime_of(client.app).crypto
    enforcer: Enforcer = runtime_of(client.app).enforcer
    mine = Binding.of(tenant_a.tenant.id, tenant_a.mailbox.id, "messages", "body", uuid.uuid4())
    theirs = Binding.of(tenant_b.tenant.id, tenant_b.mailbox.id, "messages", "body",
                        uuid.uuid4())
    other_mailbox = Binding.of(tenant_a.tenant.id, uuid.uuid4(), "messages", "body",
                               uuid.uuid4())
    with db.transaction() as s:  # sealed and committed first: SQLite has one writer at a time
        sealed_mine = crypto.seal_text(s, mine, SECRET)
        sealed_theirs = crypto.seal_text(s, theirs, SECRET)
        sealed_other = crypto.seal_text(s, other_mailbox, SECRET)
    with db.transaction() as s:  # each decision in its own transaction, as requests make them
        system = SyncGate(enforcer).authorize(s, s.get_one(Mailbox, tenant_a.mailbox.id),
                                              "test")
    with db.transaction() as s:
        read = enforcer.authorize(s, _crm_request(tenant_a, Action.mailbox_read,
                                                  str(tenant_a.mailbox.id)))
    with db.transaction() as s:
        listing = enforcer.authorize(s, _crm_request(tenant_a, Action.mailbox_list, None))
    with db.transaction() as s:
        # The system actor's step and a caller's decision both open their own mailbox.
        assert crypto.open_content_text(s, system, mine, sealed_mine) == SECRET
        assert crypto.open_content_text(s, read, mine, sealed_mine) == SECRET
        # A tenant-wide listing covers the tenant's mailboxes, never another tenant's.
        assert crypto.open_content_text(s, listing, other_mailbox, sealed_other) == SECRET
        with pytest.raises(OpeningRefused, match="another mailbox"):
            crypto.open_content_text(s, listing, theirs, sealed_theirs)
        # A decision naming one mailbox opens nothing of another, in the tenant or outside.
        for access in (system, read):
            with pytest.raises(OpeningRefused, match="another mailbox"):
                crypto.open_content_text(s, access, other_mailbox, sealed_other)
            with pytest.raises(OpeningRefused, match="another mailbox"):
                crypto.open_content_text(s, access, theirs, sealed_theirs)


def test_only_a_minted_access_opens_content(client: TestClient, db: Database,
                                            tenant_a: TenantWorld) -> None:
    crypto: CryptoService = runtime_of(client.app).crypto
    enforcer: Enforcer = runtime_of(client.app).enforcer
    mine = Binding.of(tenant_a.tenant.id, tenant_a.mailbox.id, "labels", "name", uuid.uuid4())
    with db.transaction() as s:  # sealed and committed first: SQLite has one writer at a time
        sealed = crypto.seal_text(s, mine, SECRET)
    with db.transaction() as s:
        real = enforcer.authorize(s, _crm_request(tenant_a, Action.mailbox_read,
                                                  str(tenant_a.mailbox.id)))

        class LookAlike(Access):
            def __init__(self) -> None:  # a subclass skipping the mint
                pass

            def covers_mailbox(self, *, tenant: str, mailbox: str) -> bool:
                return True

        impostors: list[object] = [LookAlike(), dataclasses.replace(real.request), None]
        for impostor in impostors:
            with pytest.raises(OpeningRefused, match="minted by the enforcement point"):
                crypto.open_content_text(s, impostor, mine, sealed)  # type: ignore[arg-type]


def test_owned_secrets_and_user_content_do_not_cross_paths(
        client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    crypto: CryptoService = runtime_of(client.app).crypto
    enforcer: Enforcer = runtime_of(client.app).enforcer
    token = Binding.of(tenant_a.tenant.id, tenant_a.mailbox.id, "oauth_tokens", "refresh_token",
                       tenant_a.mailbox.id)
    content = Binding.of(tenant_a.tenant.id, tenant_a.mailbox.id, "messages", "raw",
                         uuid.uuid4())
    with db.transaction() as s:  # sealed and committed first: SQLite has one writer at a time
        sealed_token = crypto.seal_text(s, token, "1//refresh")
        sealed_content = crypto.seal_text(s, content, SECRET)
    with db.transaction() as s:
        read = enforcer.authorize(s, _crm_request(tenant_a, Action.mailbox_read,
                                                  str(tenant_a.mailbox.id)))

        assert crypto.open_owned_secret(s, token, sealed_token) == "1//refresh"
        with pytest.raises(OpeningRefused, match="not a gateway-owned secret"):
            crypto.open_owned_secret(s, content, sealed_content)
        # Even a decision covering the mailbox does not open the gateway's own token.
        with pytest.raises(OpeningRefused, match="open_owned_secret"):
            crypto.open_content_text(s, read, token, sealed_token)
