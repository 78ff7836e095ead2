"""`CryptoService.sealer` (the store's per-batch sealing) writes exactly what `seal` writes:
records that `open` opens with the equivalent `Binding`, bound to the same five fields, under
the mailbox's current key (created on first use like `seal`)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.crypto import Binding, CryptoError, CryptoService
from gateway.crypto.binding import binding_prefix, binding_with
from gateway.crypto.models import MailboxDataKey
from tests.crypto.conftest import ids


def test_binding_prefix_and_fields_encode_like_a_binding() -> None:
    tenant, mailbox = ids()
    for table, column, row in [("messages", "raw", "r1"), ("t", "ç", "ünï"), ("a", "b", "c" * 300)]:
        assert binding_with(binding_prefix(tenant.upper(), mailbox), table, column, row) == \
            Binding(tenant, mailbox, table, column, row).encode()
    with pytest.raises(ValueError):
        binding_with(binding_prefix(tenant, mailbox), "messages", "raw", "")


def test_sealer_records_open_with_the_equivalent_binding(crypto: CryptoService,
                                                         sessions: sessionmaker[Session]) -> None:
    tenant, mailbox = ids()
    with sessions() as s, s.begin():
        sealer = crypto.sealer(s, tenant, mailbox)  # first use: creates the data key
        sealed = sealer.seal("messages", "raw", "row-1", b"raw bytes")
        assert crypto._open(s, Binding(tenant, mailbox, "messages", "raw", "row-1"),
                           sealed) == b"raw bytes"
        assert sealed.key_version == 1
        again = crypto.seal(s, Binding(tenant, mailbox, "messages", "raw", "row-2"), b"x")
        assert again.key_version == sealed.key_version
    with sessions() as s:
        assert len(s.execute(select(MailboxDataKey)).scalars().all()) == 1
    crypto.cache.clear()  # a cold cache opens it too (the key was stored, not just cached)
    other_tenant, other_mailbox = ids()
    with sessions() as s:
        assert crypto._open(s, Binding(tenant, mailbox, "messages", "raw", "row-1"),
                           sealed) == b"raw bytes"
        for moved in (Binding(tenant, mailbox, "messages", "raw", "row-2"),
                      Binding(tenant, mailbox, "messages", "body", "row-1"),
                      Binding(tenant, mailbox, "drafts", "raw", "row-1"),
                      Binding(tenant, other_mailbox, "messages", "raw", "row-1"),
                      Binding(other_tenant, mailbox, "messages", "raw", "row-1")):
            with pytest.raises(CryptoError):
                crypto._open(s, moved, sealed)


def test_sealer_takes_only_bytes(crypto: CryptoService, sessions: sessionmaker[Session]) -> None:
    tenant, mailbox = ids()
    with sessions() as s, s.begin():
        sealer = crypto.sealer(s, tenant, mailbox)
        with pytest.raises(TypeError):
            sealer.seal("messages", "raw", "row-1", "text")  # type: ignore[arg-type]
