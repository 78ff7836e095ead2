"""Keyed blind indexes: look rows up by value without storing the value in clear.

`index = HMAC-SHA256(K_tenant, encode(kind, value))[:16]` where
`K_tenant = HKDF-SHA256(blind_index_root, info="gmail-gateway/blind-index/v1" || tenant)`.
The root key is separate from every key-encryption key (it comes from the key provider's own
slot), each tenant gets its own derived key (the same address in two tenants gives unrelated
indexes), and `kind` separates namespaces ("email", "thread-id", ...). 16 bytes (128 bits)
make accidental collisions negligible while keeping index columns small.

Email addresses are normalised first (see `normalize_email`): the index is for finding "all
mail exchanged with alice@example.com", so it must match however the address was written.
"""

from __future__ import annotations

import hmac
import unicodedata
import uuid
from email.utils import parseaddr
from functools import lru_cache

from gateway.crypto.aead import hkdf_sha256
from gateway.crypto.binding import canonical_uuid, encode_fields

BLIND_INDEX_BYTES = 16
_DOMAIN = b"gmail-gateway/blind-index/v1"
EMAIL_KIND = "email"
GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def normalize_email(address: str) -> str:
    """Normalise an address for matching.

    - ``"Alice Example <Alice@Example.COM>"`` -> ``alice@example.com`` (display name dropped);
    - surrounding whitespace stripped, Unicode NFC, whole address lower-cased (local parts are
      case-sensitive in theory, in practice no provider the CRM meets treats them so);
    - a trailing dot on the domain is dropped;
    - gmail.com / googlemail.com only: dots in the local part and a ``+tag`` are removed and
      googlemail.com becomes gmail.com, because Gmail delivers all those spellings to the same
      mailbox. Other domains keep dots and ``+`` (their meaning is the provider's business).
    Raises ValueError when there is no ``local@domain`` to index.
    """
    if not isinstance(address, str):
        raise TypeError("address must be a string")
    _, parsed = parseaddr(address.strip())
    parsed = unicodedata.normalize("NFC", parsed.strip()).lower()
    local, sep, domain = parsed.rpartition("@")
    domain = domain.rstrip(".")
    if not sep or not local or not domain or any(ch.isspace() for ch in parsed):
        raise ValueError("not an email address")
    if domain in GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        domain = "gmail.com"
        if not local:
            raise ValueError("not an email address")
    return f"{local}@{domain}"


# Ingest indexes the same addresses over and over (the mailbox's own, its contacts'): the
# normalisation (an address parse and Unicode NFC) is a pure function of the string, memoised.
_normalized = lru_cache(maxsize=65_536)(normalize_email)


class BlindIndexer:
    """Computes blind indexes from the provider's blind-index root key (never a KEK)."""

    __slots__ = ("_root", "_tenant_keys")

    def __init__(self, root_key: bytes) -> None:
        if len(root_key) < 32:
            raise ValueError("blind-index root key must be at least 32 bytes")
        self._root = root_key
        self._tenant_keys: dict[str, bytes] = {}

    def _tenant_key(self, tenant: str) -> bytes:
        key = self._tenant_keys.get(tenant)
        if key is None:
            key = hkdf_sha256(self._root, info=_DOMAIN + b"/tenant/" + tenant.encode())
            self._tenant_keys[tenant] = key
        return key

    def index(self, tenant: str | uuid.UUID, kind: str, value: str | bytes) -> bytes:
        """Blind index of `value` in namespace `kind` for `tenant` (exact match, no normalising)."""
        tenant_id = canonical_uuid(tenant, "tenant")
        if not kind:
            raise ValueError("blind index kind is mandatory")
        text = value.decode("utf-8") if isinstance(value, bytes) else value
        message = encode_fields(_DOMAIN, kind, text)
        return hmac.digest(self._tenant_key(tenant_id), message, "sha256")[:BLIND_INDEX_BYTES]

    def email(self, tenant: str | uuid.UUID, address: str) -> bytes:
        """Blind index of a normalised email address (raises ValueError if it is not one)."""
        if not isinstance(address, str):
            raise TypeError("address must be a string")
        return self.index(tenant, EMAIL_KIND, _normalized(address))
