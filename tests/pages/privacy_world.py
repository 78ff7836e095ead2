"""A tenant with mail, an operator's access request, a grant, reads under it, a security case and
reads under that, all made through the API; and a real `Access` for the mailbox's owner, minted
by the enforcement point, for the privacy center's view functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from gateway.accounts.models import Principal
from gateway.kit.db import Database
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.models import Mailbox
from gateway.pages.privacy.items import ItemNamer
from gateway.policy.enforcement import Access, AccessRequest, Actor, Resource, Terminal
from gateway.runtime import runtime_of
from tests.mail.factories import make_raw, store_message
from tests.support.world import Actor as WorldActor
from tests.support.world import TenantWorld

SECRET_SUBJECT = "Acquisition terms draft"
JUSTIFICATION = "The customer asked me to check why the attachment does not open."
OPERATOR_NAME = "Dana Support"
REVIEWER_NAME = "Rita Reviewer"


@dataclass
class PrivacyWorld:
    world: TenantWorld
    request_id: str
    grant_id: str


def mailbox_url(world: TenantWorld, suffix: str = "") -> str:
    return f"/v1/mailboxes/{world.mailbox.id}{suffix}"


def name_people(db: Database, world: TenantWorld) -> None:
    with db.transaction() as s:
        for actor, name in ((world.operator, OPERATOR_NAME), (world.reviewer, REVIEWER_NAME)):
            s.execute(update(Principal).where(Principal.id == actor.principal.id)
                      .values(display_name=name))


def store_mail(client: TestClient, db: Database, world: TenantWorld) -> None:
    crypto = runtime_of(client.app).crypto
    store_message(db, crypto, world.mailbox, "18c0a1", "t100",
                  make_raw(SECRET_SUBJECT, "The price we can accept is 4.2M."))
    store_message(db, crypto, world.mailbox, "18c0a2", "t100", make_raw("Re: terms", "ok"))
    store_message(db, crypto, world.mailbox, "18c0b1", "t200", make_raw("Lunch?", "noon"))


def ask(client: TestClient, world: TenantWorld, operator: WorldActor | None = None,
        **body: Any) -> dict[str, Any]:
    body.setdefault("message_ids", ["18c0a1"])
    body.setdefault("justification", JUSTIFICATION)
    response = client.post(mailbox_url(world, "/consent/requests"), json=body,
                           headers=(operator or world.operator).headers("consent_management"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def decide(client: TestClient, world: TenantWorld, request_id: str, approve: bool
           ) -> dict[str, Any]:
    response = client.post(mailbox_url(world, f"/consent/requests/{request_id}/decision"),
                           json={"approve": approve},
                           headers=world.end_user.headers("consent_management"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def operator_reads(client: TestClient, world: TenantWorld, message_id: str,
                   purpose: str = "support") -> int:
    return client.get(mailbox_url(world, f"/messages/{message_id}/content"),
                      headers=world.operator.headers(purpose)).status_code


def record_case(client: TestClient, world: TenantWorld, **body: Any) -> dict[str, Any]:
    body.setdefault("kind", "security")
    body.setdefault("case_ref", "SEC-2026-0042")
    body.setdefault("reason", "Abuse report: phishing mail sent to 40 customers.")
    body.setdefault("expires_in_minutes", 120)
    body.setdefault("operator_id", world.operator.id)
    response = client.post(mailbox_url(world, "/justifications"), json=body,
                           headers=world.reviewer.headers(body["kind"]))
    assert response.status_code == 201, response.text
    return dict(response.json())


def build(client: TestClient, db: Database, world: TenantWorld) -> PrivacyWorld:
    """Mail; an approved request and the operator's read under it (allowed) and outside it
    (refused); a pending request; a security case and a read under it; CRM reads."""
    name_people(db, world)
    store_mail(client, db, world)
    approved = ask(client, world)
    decided = decide(client, world, approved["id"], True)
    assert operator_reads(client, world, "18c0a1") == 200
    assert operator_reads(client, world, "18c0b1") == 403
    ask(client, world, message_ids=[], thread_ids=["t200"], requested_minutes=90)
    record_case(client, world, message_ids=["18c0b1"])
    assert operator_reads(client, world, "18c0b1", purpose="security") == 200
    for _ in range(3):
        assert client.get(mailbox_url(world, "/messages"),
                          headers=world.crm.headers()).status_code == 200
    return PrivacyWorld(world, approved["id"], str(decided["grant_id"]))


def owner_access(client: TestClient, session: Session, world: TenantWorld, *,
                 action: str = "consent.list", purpose: str = "consent_management",
                 actor: WorldActor | None = None) -> tuple[Access, Mailbox]:
    """A decision for the owner (or `actor`) on the mailbox, as a page route would get it."""
    mailbox = session.get(Mailbox, world.mailbox.id)
    assert mailbox is not None
    who = actor or world.end_user
    access = runtime_of(client.app).enforcer.authorize(session, AccessRequest(
        actor=Actor(kind=who.principal.kind, id=who.id, tenant=str(world.tenant.id),
                    groups=tuple(who.principal.groups or ()), connection_id="test:privacy"),
        purpose=purpose, action=action,
        resource=Resource(type="consent", tenant=str(world.tenant.id), mailbox=str(mailbox.id),
                          owner=str(mailbox.owner_principal_id), mailbox_state=mailbox.state,
                          scopes=tuple(mailbox.granted_scopes or ())),
        terminal=Terminal(request_id="test", protocol="test")))
    return access, mailbox


def namer_for(client: TestClient, session: Session, access: Access, mailbox: Mailbox
              ) -> ItemNamer:
    return ItemNamer(session, runtime_of(client.app).service(MessageStore), access, mailbox)
