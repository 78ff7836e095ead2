"""applicable_grant on PostgreSQL and SQLite: the SQL pre-filter narrows, never decides. Ids
that look alike (m-1 / m-10, LIKE wildcards), several ids, threads, ids outside the Gmail shape,
and many ids (no pre-filter) all find exactly the grant `covers` accepts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.accounts import service as accounts
from gateway.consent.models import ConsentGrant
from gateway.consent.service import applicable_grant
from gateway.kit.db import Database
from gateway.kit.migrate import upgrade
from gateway.mailboxes.models import Mailbox


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The suite's PostgreSQL database, and a migrated SQLite file (the demo's store)."""
    if request.param == "postgresql":
        if request.config.getoption("--db") == "sqlite":
            pytest.skip("this run is --db sqlite; the sqlite case covers it")
        yield request.getfixturevalue("db")
        return
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(url)
    database = Database.from_url(url)
    yield database
    database.dispose()


@pytest.fixture
def world(db: Database) -> dict[str, uuid.UUID]:
    with db.transaction() as s:
        tenant = accounts.create_tenant(s, f"grants-{uuid.uuid4().hex[:8]}")
        owner = accounts.create_principal(s, tenant, "end_user", "owner@example.com")
        operator = accounts.create_principal(s, tenant, "operator", "op")
        mailbox = Mailbox(tenant_id=tenant.id, owner_principal_id=owner.id, granted_scopes=[])
        s.add(mailbox)
        s.flush()
        return {"tenant": tenant.id, "owner": owner.id, "operator": operator.id,
                "mailbox": mailbox.id}


def add(db: Database, world: dict[str, uuid.UUID], messages: list[str],
        threads: list[str] | None = None, *, hours: float = 2, group: str | None = None,
        created_ago: float = 1) -> str:
    now = datetime.now(UTC)
    with db.transaction() as s:
        grant = ConsentGrant(
            tenant_id=world["tenant"], mailbox_id=world["mailbox"],
            owner_principal_id=world["owner"],
            operator_principal_id=None if group else world["operator"], operator_group=group,
            message_ids=messages, thread_ids=threads or [], purpose="support",
            expires_at=now + timedelta(hours=hours), created_at=now - timedelta(hours=created_ago))
        s.add(grant)
        s.flush()
        return str(grant.id)


def found(db: Database, world: dict[str, uuid.UUID], messages: list[str],
          thread: str | None = None, groups: tuple[str, ...] = ()) -> str | None:
    with db.transaction() as s:
        grant = applicable_grant(s, world["mailbox"], world["operator"], groups, messages,
                                 thread)
    return None if grant is None else str(grant["id"])


def test_look_alike_ids_do_not_match(db: Database, world: dict[str, uuid.UUID]) -> None:
    ten = add(db, world, ["m-10"])
    underscore = add(db, world, ["a_b"])
    assert found(db, world, ["m-1"]) is None
    assert found(db, world, ["m-10"]) == ten
    assert found(db, world, ["axb"]) is None  # `_` is not a LIKE wildcard here
    assert found(db, world, ["a_b"]) == underscore


def test_every_requested_id_or_the_thread(db: Database, world: dict[str, uuid.UUID]) -> None:
    pair = add(db, world, ["m-1", "m-2"])
    thread = add(db, world, [], ["th_1"])
    assert found(db, world, ["m-1", "m-2"]) == pair
    assert found(db, world, ["m-2"]) == pair
    assert found(db, world, ["m-1", "m-3"]) is None
    assert found(db, world, ["zzz"], "th_1") == thread
    assert found(db, world, ["zzz"], "th_2") is None
    assert found(db, world, [], None) is None


def test_ids_without_a_pre_filter_are_decided_the_same(db: Database,
                                                       world: dict[str, uuid.UUID]) -> None:
    many = [f"m-{n}" for n in range(25)]
    grant = add(db, world, many)
    assert found(db, world, many) == grant
    assert found(db, world, [*many[:24], "m-99"]) is None
    odd = add(db, world, ["m.1"])
    assert found(db, world, ["m.1"]) == odd
    assert found(db, world, ["m%1"]) is None


def test_live_first_then_the_latest_lapsed_one_for_the_reason(
        db: Database, world: dict[str, uuid.UUID]) -> None:
    expired = add(db, world, ["m-5"], hours=-1, created_ago=0.5)
    assert found(db, world, ["m-5"]) == expired  # explains the deny (grant_expired)
    live = add(db, world, ["m-5"], created_ago=2)
    assert found(db, world, ["m-5"]) == live
    for n in range(250):  # newer lapsed grants naming other messages do not hide it
        add(db, world, [f"x-{n}"], hours=-1, created_ago=0.1)
    assert found(db, world, ["m-5"]) == live
    group = add(db, world, ["g-1"], group="support-l1")
    assert found(db, world, ["g-1"]) is None
    assert found(db, world, ["g-1"], groups=("support-l1",)) == group


def test_both_stores_are_exercised(db: Database, request: pytest.FixtureRequest) -> None:
    assert db.engine.dialect.name == request.node.callspec.params["db"]
