"""VaultTransitKeyProvider against the documented-shape stand-in in fake_vault.py (not a real
Vault: see that module's docstring and docs/encryption.md)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from gateway.crypto import (
    Binding,
    CryptoService,
    DecryptionFailed,
    KeyDestroyed,
    KeyUnavailable,
)
from gateway.crypto.aead import new_key
from gateway.crypto.keyprovider import KekState, KeyContext, KeyProvider
from gateway.crypto.models import MailboxDataKey
from gateway.crypto.vault import VaultTransitKeyProvider
from gateway.settings import KeyProviderKind, Settings
from tests.crypto.fake_vault import FakeVault, _Key

KEK = "gateway-kek"


@pytest.fixture
def vault() -> FakeVault:
    fake = FakeVault()
    fake.keys[KEK] = _Key()
    fake.keys[f"{KEK}-blind-index"] = _Key(exportable=True)
    return fake


def make_provider(vault: FakeVault, token: str | None = None) -> VaultTransitKeyProvider:
    client = httpx.Client(base_url="http://vault.test:8200", transport=vault.transport())
    return VaultTransitKeyProvider("http://vault.test:8200", token or vault.token, KEK,
                                   client=client)


def ctx() -> KeyContext:
    return KeyContext(str(uuid.uuid4()), str(uuid.uuid4()), 1)


def test_wrap_unwrap_and_wire_shape(vault: FakeVault) -> None:
    provider = make_provider(vault)
    assert isinstance(provider, KeyProvider)
    context, dek = ctx(), new_key()
    wrapped = provider.wrap(context, dek)
    assert wrapped.kek_version == 1 and wrapped.blob.startswith(b"vault:v1:")
    assert provider.unwrap(context, wrapped) == dek
    mailbox_key = f"{KEK}-mbx-{context.tenant}-{context.mailbox}"
    assert mailbox_key in vault.keys  # created by encrypt's upsert
    assert ("POST", f"encrypt/{mailbox_key}") in vault.calls
    assert ("POST", f"encrypt/{KEK}") in vault.calls
    with pytest.raises(DecryptionFailed):
        provider.unwrap(KeyContext(context.tenant, context.mailbox, 2), wrapped)


def test_rotate_list_retire(vault: FakeVault) -> None:
    provider = make_provider(vault)
    context, dek = ctx(), new_key()
    old = provider.wrap(context, dek)
    assert provider.add_version() == 2
    assert provider.add_version() == 3
    assert [(v.version, v.state) for v in provider.versions()] == [
        (1, KekState.active), (2, KekState.active), (3, KekState.primary)]
    new = provider.rewrap(context, old)
    assert new.kek_version == 3 and provider.unwrap(context, new) == dek
    with pytest.raises(ValueError, match="oldest first"):
        provider.retire_version(2)
    with pytest.raises(ValueError, match="primary"):
        provider.retire_version(3)
    provider.retire_version(1)
    assert provider.versions()[0].version == 2
    assert 1 not in vault.keys[KEK].versions  # trimmed: key material gone
    with pytest.raises(DecryptionFailed):
        provider.unwrap(context, old)


def test_destroy_mailbox(vault: FakeVault) -> None:
    provider = make_provider(vault)
    context = ctx()
    wrapped = provider.wrap(context, new_key())
    provider.destroy_mailbox(context.tenant, context.mailbox)
    provider.destroy_mailbox(context.tenant, context.mailbox)
    with pytest.raises(KeyDestroyed):
        provider.unwrap(context, wrapped)


def test_unavailable(vault: FakeVault) -> None:
    with pytest.raises(KeyUnavailable, match="permission denied"):
        make_provider(vault, token="s.wrong-token-000000").ping()
    vault.down = True
    with pytest.raises(KeyUnavailable, match="sealed"):
        make_provider(vault).wrap(ctx(), new_key())

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(base_url="http://vault.test", transport=httpx.MockTransport(refuse))
    service = CryptoService(VaultTransitKeyProvider("http://vault.test", "t", KEK, client=client))
    with pytest.raises(KeyUnavailable) as info:
        service.ping()
    assert info.value.status == 503


def test_service_end_to_end_with_shredding(vault: FakeVault,
                                           sessions: sessionmaker[Session]) -> None:
    crypto = CryptoService(make_provider(vault))
    tenant, mailbox, other = (str(uuid.uuid4()) for _ in range(3))
    binding = Binding(tenant, mailbox, "messages", "body", "r1")
    kept_binding = Binding(tenant, other, "messages", "body", "r1")
    with sessions() as s, s.begin():
        sealed = crypto.seal(s, binding, b"vault-protected")
        kept = crypto.seal(s, kept_binding, b"still here")
    report = crypto.rotate(sessions)
    assert (report.new_version, report.rewrapped, report.remaining) == (2, 2, 0)
    with sessions() as s, s.begin():
        crypto.retire(s, 1)
    with sessions() as s:
        dump = [dict(r._mapping) for r in s.execute(
            MailboxDataKey.__table__.select())]  # type: ignore[attr-defined]
    with sessions() as s, s.begin():
        crypto.destroy_mailbox(s, tenant, mailbox)
    fresh = CryptoService(make_provider(vault))
    with sessions() as s:
        assert fresh._open(s, kept_binding, kept) == b"still here"
        with pytest.raises(KeyDestroyed):
            fresh._open(s, binding, sealed)
    row = next(r for r in dump if str(r["mailbox_id"]) == mailbox)
    from gateway.crypto.keyprovider import WrappedKey

    with pytest.raises(KeyDestroyed):
        make_provider(vault).unwrap(KeyContext(tenant, mailbox, row["version"]),
                                    WrappedKey(row["kek_version"], row["wrapped_key"]))
    assert crypto.blind_index_email(tenant, "a@b.c") == fresh.blind_index_email(tenant, "A@B.C")


def test_blind_index_key_must_be_provisioned(vault: FakeVault) -> None:
    del vault.keys[f"{KEK}-blind-index"]
    with pytest.raises(KeyUnavailable, match="exportable"):
        make_provider(vault).blind_index_key()


def test_from_settings() -> None:
    settings = Settings(key_provider=KeyProviderKind.kms, kms_url="https://vault.internal:8200",
                        kms_key_name="kv-transit/gw-kek", kms_token="s.abcdefghijklmnop")
    provider = VaultTransitKeyProvider.from_settings(settings)
    assert (provider.mount, provider.key_name) == ("kv-transit", "gw-kek")
    provider.close()
    with pytest.raises(KeyUnavailable):
        VaultTransitKeyProvider.from_settings(Settings(key_provider=KeyProviderKind.kms))
