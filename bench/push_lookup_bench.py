"""Push mailbox lookup on PostgreSQL: how the tenant-keyed address index scales with tenants.

    source scripts/lib.sh && ensure_postgres_running
    .venv/bin/python bench/push_lookup_bench.py [--tenants 10,100,1000,10000] [--mailboxes 20]

For each tenant count T it creates T tenants with `--mailboxes` watched mailboxes each, then
times `gateway.push.lookup.find_watched` (T HMACs + one indexed query: the first push of a
mailbox in a process) and `WatchLookup.find` on a repeat push (remembered match, checked live by
one primary-key query), for an address watched in one tenant, against a baseline in the same
process: the lookup when the tenant is known (one HMAC + one indexed query). Prints medians and
p95 in ms and the ratios. Numbers, not pass/fail.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.accounts.models import Principal, Tenant
from gateway.crypto import CryptoService
from gateway.crypto.keyprovider import LocalFileKeyProvider
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from gateway.push.lookup import WatchLookup, find_watched
from gateway.push.models import MailboxWatch
from tests.support.database import migrated_database

TARGET = "someone.watched@example.org"


def seed(db: Database, crypto: CryptoService, tenants: int, per_tenant: int) -> uuid.UUID:
    tenant_ids = [uuid.uuid4() for _ in range(tenants)]
    with db.transaction() as s:
        s.execute(insert(Tenant), [{"id": t, "slug": f"t-{t.hex[:12]}", "name": "bench"}
                                   for t in tenant_ids])
        principals = [{"id": uuid.uuid4(), "tenant_id": t, "kind": "end_user",
                       "subject": "owner", "display_name": "", "groups": []}
                      for t in tenant_ids]
        s.execute(insert(Principal), principals)
        mailboxes, watches = [], []
        for p in principals:
            for i in range(per_tenant):
                mailbox_id = uuid.uuid4()
                mailboxes.append({"id": mailbox_id, "tenant_id": p["tenant_id"],
                                  "owner_principal_id": p["id"], "state": "active",
                                  "granted_scopes": []})
                address = f"user{i}@{p['tenant_id'].hex[:8]}.example"
                watches.append({"mailbox_id": mailbox_id, "tenant_id": p["tenant_id"],
                                "address_index": crypto.blind_index_email(p["tenant_id"],
                                                                          address),
                                "pushes_received": 0, "pushes_coalesced": 0})
        target = watches[len(watches) // 2]  # the one watch made for TARGET
        target_tenant = target["tenant_id"]
        target["address_index"] = crypto.blind_index_email(target_tenant, TARGET)
        s.execute(insert(Mailbox), mailboxes)
        s.execute(insert(MailboxWatch), watches)
    return target_tenant


def known_tenant(session: Session, crypto: CryptoService, tenant: uuid.UUID) -> None:
    """The baseline: the tenant is known, so one HMAC and the same indexed query."""
    index = crypto.blind_index_email(tenant, TARGET)
    session.execute(select(MailboxWatch.mailbox_id, MailboxWatch.tenant_id)
                    .where(MailboxWatch.address_index.in_([index]))).all()


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", default="10,100,1000,10000")
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    admin = os.environ["GATEWAY_TEST_DATABASE_URL"]
    with tempfile.TemporaryDirectory() as tmp:
        crypto = CryptoService(LocalFileKeyProvider(Path(tmp) / "kek.json", production=False))
        print(f"{'tenants':>8} {'watches':>8} {'first p50':>10} {'p95':>9} "
              f"{'repeat p50':>11} {'known-tenant p50':>17} {'first/known':>12} "
              f"{'repeat/known':>13}")
        for count in (int(t) for t in args.tenants.split(",")):
            with migrated_database(admin, "gw_bench_push") as url:
                db = Database.from_url(url)
                try:
                    tenant = seed(db, crypto, count, args.mailboxes)
                    with db.transaction() as s:
                        assert [t for _, t in find_watched(s, crypto, TARGET)] == [tenant]
                        lookup = functools.partial(find_watched, s, crypto, TARGET)
                        known = functools.partial(known_tenant, s, crypto, tenant)
                        rounds = max(20, min(args.rounds, 20_000 // count))
                        timed(lookup, 5)
                        p50, p95 = summary(timed(lookup, rounds))
                        b50, _ = summary(timed(known, rounds))
                        cache = WatchLookup(crypto)
                        cache.find(s, TARGET)
                        repeat = functools.partial(cache.find, s, TARGET)
                        r50, _ = summary(timed(repeat, rounds))
                        assert cache.hits >= rounds
                    print(f"{count:>8} {count * args.mailboxes:>8} {p50:>8.2f}ms {p95:>7.2f}ms "
                          f"{r50:>9.2f}ms {b50:>15.2f}ms {p50 / b50:>12.1f} {r50 / b50:>13.1f}")
                finally:
                    db.dispose()
        crypto.close()


if __name__ == "__main__":
    main()
