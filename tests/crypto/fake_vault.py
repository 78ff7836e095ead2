"""An in-process stand-in for the parts of Vault's transit API the gateway uses.

Written from Vault's API documentation (paths, X-Vault-Token, `{"data": ...}` / `{"errors": [...]}`
bodies, `vault:v<N>:` ciphertexts, encrypt upserting a missing key, `deletion_allowed` before
DELETE, `min_decryption_version`, `trim`, hmac-key export of exportable keys). It shows that our
client speaks those shapes; it is not Vault, and does not prove a real Vault agrees.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway.crypto.aead import AeadKey, new_key
from gateway.crypto.errors import DecryptionFailed


@dataclass
class _Key:
    exportable: bool = False
    deletion_allowed: bool = False
    min_decryption_version: int = 1
    min_encryption_version: int = 0
    min_available_version: int = 0
    latest: int = 0
    versions: dict[int, tuple[bytes, int, bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rotate()

    def rotate(self) -> None:
        self.latest += 1
        self.versions[self.latest] = (new_key(), int(time.time()), new_key())


class FakeVault:
    def __init__(self, token: str = "s.test-token-0123456789") -> None:
        self.token = token
        self.keys: dict[str, _Key] = {}
        self.calls: list[tuple[str, str]] = []
        self.down = False

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    @staticmethod
    def _reply(status: int, data: Any = None, errors: list[str] | None = None) -> httpx.Response:
        if status == 204:
            return httpx.Response(204)
        body: dict[str, Any] = {"errors": errors} if errors is not None else {"data": data}
        return httpx.Response(status, json=body)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return self._reply(503, errors=["Vault is sealed"])
        if request.headers.get("X-Vault-Token") != self.token:
            return self._reply(403, errors=["permission denied"])
        parts = request.url.path.strip("/").split("/")
        assert parts[:2] == ["v1", "transit"], parts
        parts = parts[2:]
        self.calls.append((request.method, "/".join(parts)))
        body = json.loads(request.content) if request.content else {}
        op, name, rest = parts[0], parts[1] if len(parts) > 1 else "", parts[2:]
        key = self.keys.get(name)
        if op == "keys" and not rest:
            if request.method == "GET":
                return self._read(name, key)
            if request.method == "POST":
                self.keys.setdefault(name, _Key(exportable=bool(body.get("exportable"))))
                return self._reply(204)
            if request.method == "DELETE":
                if key is None:
                    return self._reply(204)
                if not key.deletion_allowed:
                    return self._reply(400, errors=["deletion is not allowed for this key"])
                del self.keys[name]
                return self._reply(204)
        if op == "export" and name == "hmac-key":
            target = self.keys.get(rest[0])
            if target is None:
                return self._reply(404, errors=[])
            if not target.exportable:
                return self._reply(400, errors=["key is not exportable"])
            version = int(rest[1])
            return self._reply(200, {"name": rest[0], "type": "aes256-gcm96", "keys": {
                str(version): base64.b64encode(target.versions[version][2]).decode()}})
        if key is None and op != "encrypt":
            return self._reply(404 if op in {"keys", "export"} else 400,
                               errors=["encryption key not found"])
        if op == "keys" and rest == ["rotate"]:
            assert key is not None
            key.rotate()
            return self._reply(204)
        if op == "keys" and rest == ["config"]:
            assert key is not None
            for attr in ("deletion_allowed", "min_decryption_version", "min_encryption_version"):
                if attr in body:
                    setattr(key, attr, body[attr])
            return self._reply(204)
        if op == "keys" and rest == ["trim"]:
            assert key is not None
            floor = int(body["min_available_version"])
            if floor > key.min_decryption_version or floor > key.min_encryption_version:
                return self._reply(400, errors=["cannot be greater than min decryption/"
                                                "encryption version"])
            key.min_available_version = floor
            for version in [v for v in key.versions if v < floor]:
                del key.versions[version]
            return self._reply(204)
        if op == "encrypt":
            if key is None:
                key = self.keys[name] = _Key()  # upsert, as with the `create` capability
            material = key.versions[key.latest][0]
            ad = base64.b64decode(body.get("associated_data", ""))
            plaintext = base64.b64decode(body["plaintext"])
            sealed = AeadKey(material).seal(plaintext, b"fake-vault" + ad)
            return self._reply(200, {"ciphertext": f"vault:v{key.latest}:"
                                     + base64.b64encode(sealed).decode(),
                                     "key_version": key.latest})
        if op == "decrypt":
            assert key is not None
            _, version_text, payload = body["ciphertext"].split(":", 2)
            version = int(version_text[1:])
            if version < key.min_decryption_version or version not in key.versions:
                return self._reply(400, errors=["ciphertext or signature version is disallowed "
                                                "by policy (too old)"])
            ad = base64.b64decode(body.get("associated_data", ""))
            try:
                plaintext = AeadKey(key.versions[version][0]).open(
                    base64.b64decode(payload), b"fake-vault" + ad)
            except DecryptionFailed:
                return self._reply(400, errors=["cipher: message authentication failed"])
            return self._reply(200, {"plaintext": base64.b64encode(plaintext).decode()})
        return self._reply(405, errors=["unsupported"])

    def _read(self, name: str, key: _Key | None) -> httpx.Response:
        if key is None:
            return self._reply(404, errors=[])
        return self._reply(200, {
            "name": name, "type": "aes256-gcm96", "exportable": key.exportable,
            "deletion_allowed": key.deletion_allowed, "latest_version": key.latest,
            "min_decryption_version": key.min_decryption_version,
            "min_encryption_version": key.min_encryption_version,
            "min_available_version": key.min_available_version,
            "keys": {str(v): created for v, (_, created, _) in key.versions.items()},
        })
