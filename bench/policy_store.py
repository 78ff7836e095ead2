"""The policy decision with the real consent store: PostgreSQL lookup of the applicable grant.

Used by bench/policy_bench.py (`--store pg`, or by default when GATEWAY_TEST_DATABASE_URL is
set): the in-memory index there isolates the engines; this measures what the enforcement point
does for an operator's read, per decision, with N grants in the gateway's own table:

  1. `gateway.consent.service.applicable_grant` in a fresh session (the gateway's query: the
     operator's live grants on the mailbox, then its latest lapsed ones for the deny's reason);
  2. the policy input with that grant (the decision table's operator case, retargeted to the
     seeded ids, `now_ns` = the clock the lookup used);
  3. the engine's decision, checked against what the seeding implies (allow for a message a
     live grant of this operator covers; a deny otherwise).

Seeding (a fresh migrated database, dropped afterwards): one tenant, 20 operators, 50 mailboxes.
The measured operator has min(200, N) one-message grants on the measured mailbox, half live,
half lapsed (expired or revoked); of N grants, max(those, min(2,000, N/5)) are on that mailbox
(the rest other operators'), the others spread over the other mailboxes. Requests, round-robin,
100 of each: a message a live grant covers (allow), one only a lapsed grant covers (deny:
grant_expired / grant_revoked) and one no grant of the operator covers (deny: consent_required).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

MESSAGES_PER_KIND = 100


class PgGrantStore:
    def __init__(self, url: str, size: int, seed: int = 11) -> None:
        from gateway.kit.db import Database

        self.size = size
        self.db = Database.from_url(url)
        self._seed(random.Random(seed))

    def _seed(self, rng: random.Random) -> None:
        from gateway.accounts import service as accounts
        from gateway.consent.models import ConsentGrant
        from gateway.mailboxes.models import Mailbox

        now = datetime.now(UTC)
        with self.db.transaction() as s:
            tenant = accounts.create_tenant(s, f"policy-bench-{uuid.uuid4().hex[:6]}")
            owner = accounts.create_principal(s, tenant, "end_user", "alice@bench.example")
            operators = [accounts.create_principal(s, tenant, "operator", f"op-{n}")
                         for n in range(20)]
            mailboxes = [Mailbox(tenant_id=tenant.id, owner_principal_id=owner.id,
                                 granted_scopes=[]) for _ in range(50)]
            s.add_all(mailboxes)
            s.flush()
            self.tenant, self.owner = tenant.id, owner.id
            self.operator, self.mailbox = operators[0].id, mailboxes[0].id
            other_ops = [o.id for o in operators[1:]]
            other_boxes = [m.id for m in mailboxes[1:]]
        rows: list[dict[str, Any]] = []

        def grant(mailbox: uuid.UUID, operator: uuid.UUID, messages: list[str],
                  expires: datetime, revoked: bool = False) -> None:
            rows.append({"id": uuid.uuid4(), "tenant_id": self.tenant, "mailbox_id": mailbox,
                         "owner_principal_id": self.owner, "operator_principal_id": operator,
                         "message_ids": messages, "thread_ids": [], "purpose": "support",
                         "expires_at": expires, "created_at": now - timedelta(hours=5),
                         "revoked_at": now - timedelta(hours=1) if revoked else None})

        mine = min(self.size, 2 * MESSAGES_PER_KIND)
        self.live, self.lapsed = [], []
        for n in range(mine):  # the measured operator's: half live, half expired or revoked
            live = n < mine // 2
            (self.live if live else self.lapsed).append(f"m-{n}")
            grant(self.mailbox, self.operator, [f"m-{n}"],
                  now + timedelta(hours=2) if live or n % 2 else now - timedelta(hours=1),
                  revoked=not live and n % 2 == 1)
        hot = max(0, min(2_000, self.size // 5) - mine)
        for n in range(self.size - mine):
            box = self.mailbox if n < hot else rng.choice(other_boxes)
            grant(box, rng.choice(other_ops), [f"m-{rng.randrange(1_000, 1_000_000)}"],
                  now + timedelta(hours=rng.randint(-4, 4)), revoked=rng.random() < 0.1)
        with self.db.transaction() as s:
            for start in range(0, len(rows), 5_000):
                s.execute(insert(ConsentGrant), rows[start:start + 5_000])
        with self.db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE consent_grants")
            conn.commit()

    def requests(self) -> list[tuple[str, bool]]:
        """(message id, expected allow), round-robin over the three kinds."""
        out = []
        for n in range(MESSAGES_PER_KIND):
            out += [(self.live[n % len(self.live)], True),
                    (self.lapsed[n % len(self.lapsed)], False),
                    (f"m-{900_000_000 + n}", False)]  # no grant of this operator covers it
        return out

    def lookup(self, message_id: str) -> tuple[dict[str, Any] | None, int]:
        from gateway.consent.service import applicable_grant

        with self.db.transaction() as s:
            now_ns = time.time_ns()
            found = applicable_grant(s, self.mailbox, self.operator, [], [message_id], None)
        return found, now_ns

    def policy_input(self, template: dict[str, Any], message_id: str) -> dict[str, Any]:
        grant, now_ns = self.lookup(message_id)
        policy_input = dict(template)
        policy_input["actor"] = {**template["actor"], "id": str(self.operator), "groups": []}
        policy_input["resource"] = {**template["resource"], "mailbox": str(self.mailbox),
                                    "owner": str(self.owner), "tenant": template["actor"]["tenant"],
                                    "ids": [message_id], "thread_id": f"th-{message_id}"}
        policy_input["grant"] = grant
        policy_input["now_ns"] = now_ns
        return policy_input

    def close(self) -> None:
        self.db.dispose()


def operator_template(cases: list[Any]) -> dict[str, Any]:
    case = next(c for c in cases if c.name == "operator reads a granted message")
    return dict(case.input)


@contextmanager
def pg_stores(admin_url: str, sizes: list[int]) -> Iterator[list[PgGrantStore]]:
    """A fresh migrated database with one store per size (each its own tenant), dropped after."""
    from tests.support.database import migrated_database

    stores: list[PgGrantStore] = []
    with migrated_database(admin_url, "gw_bench_policy") as url:
        try:
            for size in sizes:
                started = time.perf_counter()
                stores.append(PgGrantStore(url, size))
                took = time.perf_counter() - started
                print(f"seeded {size:,} grants in PostgreSQL in {took:.1f} s")
            yield stores
        finally:
            for store in stores:
                store.close()


def check(store: PgGrantStore, decide: Callable[[dict[str, Any]], Any],
          template: dict[str, Any]) -> list[str]:
    """Requests whose decision is not what the seeding implies."""
    wrong = []
    for message_id, expected in store.requests():
        decision = decide(store.policy_input(template, message_id))
        if decision.allow is not expected:
            wrong.append(f"{message_id}: allow={decision.allow} {decision.reasons}")
    return wrong
