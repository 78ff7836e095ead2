"""A small mailbox in the store for the read API's tests: four messages over three threads,
with labels, attachments, a Cc and dates a day apart (plus one message in tenant B)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from gateway.kit.db import Database
from gateway.runtime import runtime_of
from tests.mail.factories import make_raw, store_message
from tests.support.world import TenantWorld

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
INVOICE = b"invoice-bytes\x00\x01\x02" * 100
CAROL = "Carol <carol@customer.example>"


def day(n: int) -> datetime:
    return datetime(2026, 11, n, 10, 0, tzinfo=UTC)


@dataclass
class Seeded:
    world: TenantWorld
    other: TenantWorld
    raws: dict[str, bytes]

    def url(self, suffix: str = "") -> str:
        return f"/v1/mailboxes/{self.world.mailbox.id}{suffix}"


@pytest.fixture
def seeded(client: TestClient, db: Database, tenant_a: TenantWorld,
           tenant_b: TenantWorld) -> Seeded:
    crypto = runtime_of(client.app).crypto
    raws = {
        "m1": make_raw("Contract for Q1", "Please sign the contract.", sender=CAROL,
                       attachment=PDF, date=day(1)),
        "m2": make_raw("Re: Contract for Q1", "Signed.", sender="alice@tenant-a.example",
                       to=CAROL, date=day(2)),
        "m3": make_raw("Lunch?", "Noon at the usual place?", sender="dave@other.example",
                       cc="CAROL@Customer.Example", date=day(3),
                       html="<p>Noon at the <b>usual</b> place?</p>"),
        "m4": make_raw("Invoice 42", "Invoice attached.", sender="billing@vendor.example",
                       attachment=INVOICE, filename='inv"oice\r\n 42 é.bin',
                       mime_type="application/octet-stream", date=day(4)),
        "b1": make_raw("Tenant B only", "secret of tenant b", date=day(5)),
    }
    store_message(db, crypto, tenant_a.mailbox, "m1", "t1", raws["m1"], ["INBOX", "UNREAD"],
                  internal_date=day(1))
    store_message(db, crypto, tenant_a.mailbox, "m2", "t1", raws["m2"], ["SENT"],
                  internal_date=day(2))
    store_message(db, crypto, tenant_a.mailbox, "m3", "t2", raws["m3"], ["INBOX", "Label_7"],
                  internal_date=day(3))
    store_message(db, crypto, tenant_a.mailbox, "m4", "t3", raws["m4"],
                  ["INBOX", "UNREAD", "Label_70"], internal_date=day(4))
    store_message(db, crypto, tenant_b.mailbox, "b1", "tb", raws["b1"], internal_date=day(5))
    return Seeded(tenant_a, tenant_b, raws)
