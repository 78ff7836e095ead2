"""`CryptoService`: the one object the rest of the gateway uses to encrypt, decrypt and index.

Built once per process by `gateway.runtime.build_runtime` (`CryptoService.from_settings`),
safe to share between threads. Methods that take a `Session` run inside the caller's
transaction and never commit. Every ciphertext is bound to a `Binding` (tenant, mailbox,
table, column, row).

Opening has two public paths and no third (docs/encryption.md, "Who may open what"):
`open_content` / `open_content_text` for user content, which need the `Access` the enforcement
point minted and check that it covers the binding's tenant and mailbox; `open_owned_secret` for
the secrets the gateway itself owns (`gateway.crypto.owned`), which refuses every other column.
tests/crypto/test_opening_fence.py lists the modules allowed to call each.
"""

from __future__ import annotations

import threading
import uuid

from sqlalchemy.orm import Session

from gateway.crypto.aead import open_record, seal_record
from gateway.crypto.binding import Binding, binding_prefix, binding_with, canonical_uuid
from gateway.crypto.blind_index import BlindIndexer
from gateway.crypto.cache import KeyCache
from gateway.crypto.errors import CryptoError, KeyUnavailable, OpeningRefused
from gateway.crypto.keyprovider import KeyProvider, LocalFileKeyProvider
from gateway.crypto.keyring import DataKey, KekUsage, Keyring, RotationReport, SessionFactory
from gateway.crypto.owned import OWNED_SECRET_COLUMNS
from gateway.crypto.sealed import Sealed, mint
from gateway.policy.enforcement import Access
from gateway.settings import Environment, KeyProviderKind, Settings

DEFAULT_CACHE_ENTRIES = 10_000
DEFAULT_CACHE_TTL_SECONDS = 300.0


def build_key_provider(settings: Settings) -> KeyProvider:
    """The provider `settings` ask for; production never gets a self-generated local key."""
    production = settings.environment is Environment.prod
    if settings.key_provider is KeyProviderKind.kms:
        from gateway.crypto.vault import VaultTransitKeyProvider

        return VaultTransitKeyProvider.from_settings(settings)
    return LocalFileKeyProvider(settings.key_file, production=production)


class MailboxSealer:
    """`CryptoService.seal` for one mailbox's rows, with the data key and the binding's
    tenant/mailbox fields resolved once (see `CryptoService.sealer`)."""

    __slots__ = ("_key", "_prefix")

    def __init__(self, data_key: DataKey, prefix: bytes) -> None:
        self._key = data_key
        self._prefix = prefix

    def seal(self, table: str, column: str, row: str, plaintext: bytes) -> Sealed:
        """Encrypt bound to (tenant, mailbox, table, column, row), like `seal`."""
        if not isinstance(plaintext, bytes):
            raise TypeError("seal takes bytes")
        return mint(seal_record(self._key.key, self._key.version, plaintext,
                                binding_with(self._prefix, table, column, row)))


class CryptoService:
    def __init__(
        self,
        provider: KeyProvider,
        *,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
        cache_ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS,
    ) -> None:
        self.provider = provider
        self.cache: KeyCache[DataKey] = KeyCache(cache_entries, cache_ttl_seconds)
        self.keyring = Keyring(provider, self.cache)
        self._indexer: BlindIndexer | None = None
        self._indexer_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> CryptoService:
        return cls(build_key_provider(settings))

    # -- sealing --------------------------------------------------------------------------------

    def seal(self, session: Session, binding: Binding, plaintext: bytes) -> Sealed:
        """Encrypt `plaintext` under the mailbox's data key, bound to `binding`."""
        if not isinstance(binding, Binding):
            raise TypeError("seal needs a Binding")
        if not isinstance(plaintext, bytes | bytearray | memoryview):
            raise TypeError("seal takes bytes; use seal_text for str")
        data_key = self.keyring.current_key(session, binding.tenant, binding.mailbox)
        return mint(seal_record(data_key.key, data_key.version, bytes(plaintext),
                                binding.encode()))

    def sealer(self, session: Session, tenant: str | uuid.UUID,
               mailbox: str | uuid.UUID) -> MailboxSealer:
        """Seal many values of one mailbox (a stored batch) with its current data key, looked
        up once instead of once per value; same records and bindings as `seal`. Use it for
        one transaction: it keeps the key it was given."""
        tenant_id = canonical_uuid(tenant, "tenant")
        mailbox_id = canonical_uuid(mailbox, "mailbox")
        data_key = self.keyring.current_key(session, tenant_id, mailbox_id)
        return MailboxSealer(data_key, binding_prefix(tenant_id, mailbox_id))

    def open_content(self, session: Session, access: Access, binding: Binding,
                     sealed: Sealed) -> bytes:
        """Decrypt user content under `access`, the enforcement point's allow for a request
        (or a system step) covering the binding's tenant and mailbox; `OpeningRefused` for any
        other `Access`, or for a gateway-owned secret. `DecryptionFailed` if the value was
        tampered with or belongs elsewhere."""
        if type(access) is not Access:
            raise OpeningRefused("user content opens only with an Access minted by the "
                                 "enforcement point")
        if not isinstance(binding, Binding):
            raise TypeError("open_content needs a Binding")
        if not access.covers_mailbox(tenant=binding.tenant, mailbox=binding.mailbox):
            raise OpeningRefused("this Access was granted for another mailbox")
        if (binding.table, binding.column) in OWNED_SECRET_COLUMNS:
            raise OpeningRefused("a gateway-owned secret opens with open_owned_secret")
        return self._open(session, binding, sealed)

    def open_content_text(self, session: Session, access: Access, binding: Binding,
                          sealed: Sealed) -> str:
        return self.open_content(session, access, binding, sealed).decode("utf-8")

    def open_owned_secret(self, session: Session, binding: Binding, sealed: Sealed) -> str:
        """Decrypt a secret the gateway owns (an OAuth token, a webhook signing secret, a
        sealed justification: `gateway.crypto.owned`); `OpeningRefused` for any other column,
        so user content never opens here."""
        if not isinstance(binding, Binding):
            raise TypeError("open_owned_secret needs a Binding")
        if (binding.table, binding.column) not in OWNED_SECRET_COLUMNS:
            raise OpeningRefused(f"{binding.table}.{binding.column} is not a gateway-owned "
                                 "secret; user content opens with open_content and an Access")
        return self._open(session, binding, sealed).decode("utf-8")

    def _open(self, session: Session, binding: Binding, sealed: Sealed) -> bytes:
        """The decryption both public paths share, after their checks; nothing outside
        gateway/crypto calls it (tests/crypto/test_opening_fence.py)."""
        if not isinstance(sealed, Sealed):
            raise TypeError("open takes a Sealed value")
        key = self.keyring.key_for(session, binding.tenant, binding.mailbox, sealed.key_version)
        return open_record(key, sealed.blob, binding.encode())

    def seal_text(self, session: Session, binding: Binding, text: str) -> Sealed:
        if not isinstance(text, str):
            raise TypeError("seal_text takes str")
        return self.seal(session, binding, text.encode("utf-8"))

    # -- blind indexes ----------------------------------------------------------------------------

    def _blind_indexer(self) -> BlindIndexer:
        indexer = self._indexer
        if indexer is None:
            with self._indexer_lock:
                if self._indexer is None:
                    self._indexer = BlindIndexer(self.provider.blind_index_key())
                indexer = self._indexer
        return indexer

    def blind_index(self, tenant: str | uuid.UUID, kind: str, value: str | bytes) -> bytes:
        """16-byte keyed index of an exact value in namespace `kind` (see blind_index.py)."""
        return self._blind_indexer().index(tenant, kind, value)

    def blind_index_email(self, tenant: str | uuid.UUID, address: str) -> bytes:
        """16-byte keyed index of a normalised email address; ValueError if not an address."""
        return self._blind_indexer().email(tenant, address)

    # -- lifecycle --------------------------------------------------------------------------------

    def destroy_mailbox(self, session: Session, tenant: str | uuid.UUID,
                        mailbox: str | uuid.UUID) -> None:
        """Crypto-shred a mailbox. Irreversible as soon as it returns; call it last."""
        self.keyring.destroy(session, canonical_uuid(tenant, "tenant"),
                             canonical_uuid(mailbox, "mailbox"))

    def rotate(self, session_factory: SessionFactory, *, batch_size: int = 200) -> RotationReport:
        """New KEK version, then re-wrap every data key under it while traffic continues."""
        return self.keyring.rotate(session_factory, batch_size=batch_size)

    def resume_rotation(self, session_factory: SessionFactory, *,
                        batch_size: int = 200) -> RotationReport:
        """Finish re-wrapping onto the current primary version without adding another."""
        return self.keyring.rotate(session_factory, batch_size=batch_size, add_version=False)

    def kek_versions(self, session: Session) -> list[KekUsage]:
        return self.keyring.usage(session)

    def retire(self, session: Session, version: int) -> None:
        """Destroy a KEK version; KeyInUse while any data key is still wrapped by it."""
        self.keyring.retire(session, version)

    def ping(self) -> None:
        """For readiness probes: raise KeyUnavailable unless the provider works right now."""
        try:
            self.provider.ping()
        except KeyUnavailable:
            raise
        except CryptoError as exc:
            raise KeyUnavailable(str(exc)) from exc
        except OSError as exc:
            raise KeyUnavailable(f"key provider unavailable: {exc.strerror}") from exc

    def close(self) -> None:
        """Drop every cached plaintext key and release the provider's connections."""
        self.cache.clear()
        closer = getattr(self.provider, "close", None)
        if callable(closer):
            closer()
