"""`load_message`: mailbox and message in one query, the same 404s as the per-table lookups,
and only the sealed columns the view needs."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from gateway.accounts.deps import Caller
from gateway.kit.db import Database
from gateway.kit.errors import NotFound
from gateway.mail.read.resolvers import MessageColumns, load_message
from tests.mail.read_fixtures import Seeded, seeded
from tests.support.world import Actor, TenantWorld

__all__ = ["seeded"]


def caller_of(world: TenantWorld, actor: Actor) -> Caller:
    p = actor.principal
    return Caller(principal_id=p.id, tenant_id=world.tenant.id, kind=p.kind, subject=p.subject,
                  groups=tuple(p.groups or ()), api_key_prefix="gmgw_test")


@pytest.mark.parametrize(("columns", "unloaded"), [
    (MessageColumns.metadata, {"body", "raw"}),
    (MessageColumns.content, {"raw"}),
    (MessageColumns.all, set()),
])
def test_only_the_needed_sealed_columns_are_read(db: Database, seeded: Seeded,
                                                 columns: MessageColumns,
                                                 unloaded: set[str]) -> None:
    world = seeded.world
    with db.transaction() as s:
        mailbox, message = load_message(s, caller_of(world, world.crm), str(world.mailbox.id),
                                        "m1", columns)
        assert mailbox.id == world.mailbox.id and message.gmail_id == "m1"
        assert inspect(message).unloaded & {"summary", "body", "raw"} == unloaded
        assert message.raw.blob  # a deferred column still loads when something needs it


@pytest.mark.parametrize(("who", "mailbox_of", "message_id", "code"), [
    ("other_crm", "a", "m1", "mailbox_not_found"),        # another tenant's mailbox
    ("other_crm", "a", "bad id!", "mailbox_not_found"),   # ... even with a malformed id
    ("other_user", "a", "m1", "mailbox_not_found"),       # a colleague's mailbox
    ("crm", "a", "b1", "message_not_found"),              # another mailbox's message
    ("crm", "a", "nope", "message_not_found"),
    ("crm", "a", "bad id!", "message_not_found"),
    ("crm", "not-a-uuid", "m1", "mailbox_not_found"),
])
def test_not_found_says_what_the_separate_lookups_said(db: Database, seeded: Seeded, who: str,
                                                       mailbox_of: str, message_id: str,
                                                       code: str) -> None:
    world = seeded.world
    caller = {"other_crm": caller_of(seeded.other, seeded.other.crm),
              "other_user": caller_of(world, world.other_user),
              "crm": caller_of(world, world.crm)}[who]
    mailbox_id = str(world.mailbox.id) if mailbox_of == "a" else mailbox_of
    with db.transaction() as s, pytest.raises(NotFound) as raised:
        load_message(s, caller, mailbox_id, message_id)
    assert raised.value.code == code
