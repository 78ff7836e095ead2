"""The local key file: safe creation, production refusals, versions, wrapping bound to context."""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

import pytest

from gateway.crypto import CryptoService, DecryptionFailed, KeyDestroyed, UnsafeKeyFile
from gateway.crypto.aead import new_key
from gateway.crypto.keyprovider import (
    ORIGIN_PROVISIONED,
    KekState,
    KeyContext,
    KeyProvider,
    LocalFileKeyProvider,
    write_new_key_file,
)
from gateway.settings import Environment, Settings


def ctx(version: int = 1) -> KeyContext:
    return KeyContext(str(uuid.uuid4()), str(uuid.uuid4()), version)


def test_first_run_creates_private_files(key_file: Path) -> None:
    provider = LocalFileKeyProvider(key_file, production=False)
    assert isinstance(provider, KeyProvider)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    raw = json.loads(key_file.read_text())
    assert raw["generated"] is True and raw["origin"] == "generated-on-first-run"
    assert raw["blind_index_key"] not in {v["key"] for v in raw["kek_versions"]}
    provider.wrap(ctx(), new_key())
    mailbox_dir = key_file.parent / "kek.mailboxes"
    assert stat.S_IMODE(mailbox_dir.stat().st_mode) == 0o700
    for path in mailbox_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_production_refuses_to_generate(key_file: Path) -> None:
    with pytest.raises(UnsafeKeyFile, match="provisioned deliberately"):
        LocalFileKeyProvider(key_file, production=True)
    assert not key_file.exists()
    settings = Settings(environment=Environment.prod, key_file=key_file)
    with pytest.raises(UnsafeKeyFile):
        CryptoService.from_settings(settings)


def test_production_refuses_a_generated_file(key_file: Path) -> None:
    LocalFileKeyProvider(key_file, production=False)
    with pytest.raises(UnsafeKeyFile, match="generated automatically"):
        LocalFileKeyProvider(key_file, production=True)


def test_production_accepts_provisioned_file_but_not_loose_permissions(key_file: Path) -> None:
    write_new_key_file(key_file, origin=ORIGIN_PROVISIONED)
    provider = LocalFileKeyProvider(key_file, production=True)
    provider.ping()
    os.chmod(key_file, 0o644)
    with pytest.raises(UnsafeKeyFile, match="readable by group/others"):
        LocalFileKeyProvider(key_file, production=True)
    with pytest.raises(FileExistsError):
        write_new_key_file(key_file, origin=ORIGIN_PROVISIONED)


def test_wrapped_key_is_bound_to_tenant_mailbox_and_version(provider: LocalFileKeyProvider) -> None:
    context = ctx()
    dek = new_key()
    wrapped = provider.wrap(context, dek)
    assert provider.unwrap(context, wrapped) == dek
    for other in (KeyContext(str(uuid.uuid4()), context.mailbox, 1),
                  KeyContext(context.tenant, context.mailbox, 2)):
        with pytest.raises(DecryptionFailed):
            provider.unwrap(other, wrapped)
    with pytest.raises((DecryptionFailed, KeyDestroyed)):
        provider.unwrap(KeyContext(context.tenant, str(uuid.uuid4()), 1), wrapped)


def test_versions_rotate_retire(provider: LocalFileKeyProvider) -> None:
    context = ctx()
    dek = new_key()
    old = provider.wrap(context, dek)
    assert [(v.version, v.state) for v in provider.versions()] == [(1, KekState.primary)]
    assert provider.add_version() == 2
    assert [(v.version, v.state) for v in provider.versions()] == [
        (1, KekState.active), (2, KekState.primary)]
    new = provider.rewrap(context, old)
    assert new.kek_version == 2 and provider.unwrap(context, new) == dek
    assert provider.unwrap(context, old) == dek  # readers of not-yet-rewrapped rows still work
    with pytest.raises(ValueError, match="primary"):
        provider.retire_version(2)
    provider.retire_version(1)
    assert provider.versions()[0].state is KekState.retired
    with pytest.raises(Exception, match="retired"):
        provider.unwrap(context, old)
    assert "\"key\": null" in provider._path.read_text()


def test_other_processes_see_rotation(key_file: Path) -> None:
    a = LocalFileKeyProvider(key_file, production=False)
    b = LocalFileKeyProvider(key_file, production=False)
    a.add_version()
    context = ctx()
    wrapped = b.wrap(context, new_key())
    assert wrapped.kek_version == 2
    assert a.unwrap(context, wrapped) == b.unwrap(context, wrapped)


def test_mailbox_key_created_once_under_races(key_file: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    providers = [LocalFileKeyProvider(key_file, production=False) for _ in range(4)]
    context = ctx()
    deks = [new_key() for _ in range(16)]
    with ThreadPoolExecutor(8) as pool:
        wrapped = list(pool.map(lambda i: providers[i % 4].wrap(context, deks[i]), range(16)))
    for i, w in enumerate(wrapped):
        assert providers[0].unwrap(context, w) == deks[i]
    assert len(list((key_file.parent / "kek.mailboxes").iterdir())) == 1


def test_destroy_mailbox(provider: LocalFileKeyProvider) -> None:
    context = ctx()
    wrapped = provider.wrap(context, new_key())
    provider.destroy_mailbox(context.tenant, context.mailbox)
    provider.destroy_mailbox(context.tenant, context.mailbox)  # idempotent
    with pytest.raises(KeyDestroyed):
        provider.unwrap(context, wrapped)
    # rewrap still works (it never needs the mailbox key) but the result stays unreadable
    with pytest.raises(KeyDestroyed):
        provider.unwrap(context, provider.rewrap(context, wrapped))
