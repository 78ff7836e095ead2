"""`VaultTransitKeyProvider`: the key provider on HashiCorp Vault's transit engine (or OpenBao).

Chosen over Google Cloud KMS because transit offers, over one plain JSON/HTTP API, every operation
the design needs: versioned keys with `rotate`, retirement (`min_decryption_version` + `trim`),
AEAD associated data on encrypt/decrypt (Vault >= 1.13, `associated_data`), per-mailbox keys
created on first use (encrypt "upserts" a missing key when the token has `create`), and real
deletion of a key (`deletion_allowed` + DELETE) for crypto-shredding.

Mapping onto the two wrapping layers (see `keyprovider.py`):
  * KEK        = transit key `<kek>` (settings.kms_key_name, "mount/name" or "name");
  * mailbox key = transit key `<kek>-mbx-<tenant>-<mailbox>`, destroyed on shredding;
  * blind-index root = HMAC key of version 1 of transit key `<kek>-blind-index`, which the
    operator creates once, exportable
    (`vault write transit/keys/<kek>-blind-index exportable=true`).

The stored `wrapped_key` is the outer transit ciphertext (`vault:v<N>:...`) as ASCII bytes. The
DEK itself is never sent to Vault in clear on rotation: re-wrapping decrypts the outer layer only,
which yields the inner (still mailbox-key-encrypted) ciphertext.

Tested here only against an in-process stand-in written from Vault's API documentation
(tests/crypto/test_vault.py): it proves this client speaks the documented shapes, not that a real
Vault agrees. Run the same test module against `vault server -dev` before relying on it.
"""

from __future__ import annotations

import base64
import re
import threading
from datetime import UTC, datetime
from typing import Any

import httpx

from gateway.crypto.errors import DecryptionFailed, KeyDestroyed, KeyUnavailable
from gateway.crypto.keyprovider import KekState, KekVersion, KeyContext, WrappedKey
from gateway.settings import Settings

_OUTER_AD = b"gmail-gateway/wrap/outer/v1"
_INNER_AD = b"gmail-gateway/wrap/inner/v1"
_CIPHERTEXT = re.compile(r"^vault:v(\d+):")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class VaultTransitKeyProvider:
    name = "vault-transit"

    def __init__(
        self,
        base_url: str,
        token: str,
        key_name: str,
        *,
        mount: str = "transit",
        client: httpx.Client | None = None,
        timeout: float = 5.0,
        namespace: str | None = None,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", key_name):
            raise ValueError("Vault key names may only use letters, digits, '_', '.', '-'")
        self.key_name = key_name
        self.mount = mount.strip("/")
        headers = {"X-Vault-Token": token}
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        self._client = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._client.headers.update(headers)
        self._blind_index_key: bytes | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> VaultTransitKeyProvider:
        if not settings.kms_url or not settings.kms_key_name or settings.kms_token is None:
            raise KeyUnavailable("GATEWAY_KMS_URL, GATEWAY_KMS_KEY_NAME and GATEWAY_KMS_TOKEN "
                                 "are needed for the Vault transit key provider")
        mount, _, name = settings.kms_key_name.rpartition("/")
        return cls(settings.kms_url, settings.kms_token.get_secret_value(), name,
                   mount=mount or "transit")

    def close(self) -> None:
        self._client.close()

    # -- HTTP -----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None
                 ) -> httpx.Response:
        try:
            return self._client.request(method, f"/v1/{self.mount}/{path}", json=body)
        except httpx.HTTPError as exc:
            raise KeyUnavailable(f"Vault unreachable: {type(exc).__name__}") from None

    @staticmethod
    def _errors(response: httpx.Response) -> str:
        try:
            errors = response.json().get("errors") or []
        except ValueError:
            errors = []
        return "; ".join(str(e) for e in errors) or f"HTTP {response.status_code}"

    def _ok(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code in (200, 204):
            if response.status_code == 204 or not response.content:
                return {}
            data = response.json().get("data")
            return data if isinstance(data, dict) else {}
        raise KeyUnavailable(f"Vault {what} failed: {self._errors(response)}")

    def _key_info(self, name: str) -> dict[str, Any] | None:
        response = self._request("GET", f"keys/{name}")
        if response.status_code == 404:
            return None
        return self._ok(response, "read key")

    def _kek_info(self) -> dict[str, Any]:
        info = self._key_info(self.key_name)
        if info is None:
            raise KeyUnavailable(f"Vault transit key {self.key_name!r} does not exist")
        return info

    def _encrypt(self, name: str, plaintext: bytes, ad: bytes) -> tuple[str, int]:
        data = self._ok(self._request("POST", f"encrypt/{name}", {
            "plaintext": _b64(plaintext), "associated_data": _b64(ad), "type": "aes256-gcm96",
        }), "encrypt")
        ciphertext = str(data.get("ciphertext", ""))
        match = _CIPHERTEXT.match(ciphertext)
        if not match:
            raise KeyUnavailable("Vault returned no transit ciphertext")
        return ciphertext, int(data.get("key_version") or match.group(1))

    def _decrypt(self, name: str, ciphertext: str, ad: bytes, *, mailbox_key: bool) -> bytes:
        response = self._request("POST", f"decrypt/{name}", {
            "ciphertext": ciphertext, "associated_data": _b64(ad)})
        if response.status_code == 400:
            if mailbox_key and self._key_info(name) is None:
                raise KeyDestroyed("the mailbox key no longer exists")
            raise DecryptionFailed(f"Vault refused to decrypt: {self._errors(response)}")
        data = self._ok(response, "decrypt")
        try:
            return base64.b64decode(str(data["plaintext"]), validate=True)
        except (KeyError, ValueError):
            raise KeyUnavailable("Vault returned no plaintext") from None

    def _mailbox_key_name(self, tenant: str, mailbox: str) -> str:
        return f"{self.key_name}-mbx-{tenant}-{mailbox}"

    # -- KeyProvider ----------------------------------------------------------------------------

    def wrap(self, context: KeyContext, data_key: bytes) -> WrappedKey:
        inner, _ = self._encrypt(self._mailbox_key_name(context.tenant, context.mailbox),
                                 data_key, context.encode(_INNER_AD))
        return self._seal_outer(context, inner)

    def _seal_outer(self, context: KeyContext, inner: str) -> WrappedKey:
        outer, version = self._encrypt(self.key_name, inner.encode("ascii"),
                                       context.encode(_OUTER_AD))
        return WrappedKey(version, outer.encode("ascii"))

    def _open_outer(self, context: KeyContext, wrapped: WrappedKey) -> str:
        try:
            outer = wrapped.blob.decode("ascii")
        except UnicodeDecodeError:
            raise DecryptionFailed("not a Vault transit ciphertext") from None
        match = _CIPHERTEXT.match(outer)
        if not match or int(match.group(1)) != wrapped.kek_version:
            raise DecryptionFailed("wrapped key does not match its recorded KEK version")
        inner = self._decrypt(self.key_name, outer, context.encode(_OUTER_AD),
                              mailbox_key=False)
        return inner.decode("ascii")

    def unwrap(self, context: KeyContext, wrapped: WrappedKey) -> bytes:
        inner = self._open_outer(context, wrapped)
        return self._decrypt(self._mailbox_key_name(context.tenant, context.mailbox), inner,
                             context.encode(_INNER_AD), mailbox_key=True)

    def rewrap(self, context: KeyContext, wrapped: WrappedKey) -> WrappedKey:
        return self._seal_outer(context, self._open_outer(context, wrapped))

    def primary_version(self) -> int:
        return int(self._kek_info()["latest_version"])

    def versions(self) -> list[KekVersion]:
        info = self._kek_info()
        latest = int(info["latest_version"])
        min_decrypt = int(info.get("min_decryption_version") or 1)
        min_available = int(info.get("min_available_version") or 0)
        created = {int(v): t for v, t in (info.get("keys") or {}).items()}
        result: list[KekVersion] = []
        for version in range(max(1, min_available), latest + 1):
            state = (KekState.primary if version == latest
                     else KekState.active if version >= min_decrypt else KekState.retired)
            stamp = created.get(version)
            when = datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int) else None
            result.append(KekVersion(version, state, when))
        return result

    def add_version(self) -> int:
        self._ok(self._request("POST", f"keys/{self.key_name}/rotate"), "rotate")
        return self.primary_version()

    def retire_version(self, version: int) -> None:
        info = self._kek_info()
        latest = int(info["latest_version"])
        min_decrypt = int(info.get("min_decryption_version") or 1)
        if version >= latest:
            raise ValueError("the primary KEK version cannot be retired; rotate first")
        if version < min_decrypt:
            return
        if version != min_decrypt:
            raise ValueError(f"Vault retires versions oldest first: retire {min_decrypt} first")
        # Stop decrypting with it, then delete its key material for good (trim).
        self._ok(self._request("POST", f"keys/{self.key_name}/config", {
            "min_decryption_version": version + 1, "min_encryption_version": latest,
        }), "configure key")
        self._ok(self._request("POST", f"keys/{self.key_name}/trim", {
            "min_available_version": version + 1}), "trim key")

    def destroy_mailbox(self, tenant: str, mailbox: str) -> None:
        name = self._mailbox_key_name(tenant, mailbox)
        if self._key_info(name) is None:
            return
        self._ok(self._request("POST", f"keys/{name}/config", {"deletion_allowed": True}),
                 "allow deletion")
        response = self._request("DELETE", f"keys/{name}")
        if response.status_code != 404:
            self._ok(response, "delete key")

    def blind_index_key(self) -> bytes:
        with self._lock:
            if self._blind_index_key is None:
                name = f"{self.key_name}-blind-index"
                response = self._request("GET", f"export/hmac-key/{name}/1")
                if response.status_code == 404:
                    raise KeyUnavailable(
                        f"Vault transit key {name!r} is missing; create it once with "
                        f"exportable=true (see docs/encryption.md)")
                data = self._ok(response, "export blind-index key")
                try:
                    key = base64.b64decode(str(data["keys"]["1"]), validate=True)
                except (KeyError, TypeError, ValueError):
                    raise KeyUnavailable("Vault returned no blind-index key") from None
                if len(key) < 32:
                    raise KeyUnavailable("blind-index key from Vault is shorter than 256 bits")
                self._blind_index_key = key
            return self._blind_index_key

    def ping(self) -> None:
        self._kek_info()
