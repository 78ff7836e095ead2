"""The local key file's format: KEK versions, the blind-index root key and where the file came from.

    {"format": "gmail-gateway-local-keys", "format_version": 1,
     "origin": "generated-on-first-run" | "provisioned", "generated": true | false,
     "primary_version": 2,
     "kek_versions": [{"version": 1, "state": "active", "created_at": "...",
                       "retired_at": null, "key": "<base64 32 bytes>" | null}, ...],
     "blind_index_key": "<base64 32 bytes>"}
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from gateway.crypto.aead import KEY_BYTES, new_key
from gateway.crypto.errors import UnsafeKeyFile
from gateway.kit.timeutil import utcnow

KEY_FILE_FORMAT = "gmail-gateway-local-keys"
ORIGIN_GENERATED = "generated-on-first-run"
ORIGIN_PROVISIONED = "provisioned"


class KekState(StrEnum):
    primary = "primary"  # wraps new data keys
    active = "active"  # still unwraps what it wrapped
    retired = "retired"  # key material gone; nothing it wrapped can be opened


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass
class KekEntry:
    """One KEK version as stored in the file (key is None once retired)."""

    version: int
    state: KekState
    created_at: datetime
    key: bytes | None
    retired_at: datetime | None = None


@dataclass
class KeyFileState:
    origin: str
    primary: int
    keks: dict[int, KekEntry]
    blind_index_key: bytes

    @classmethod
    def generate(cls, origin: str) -> KeyFileState:
        now = utcnow()
        return cls(origin=origin, primary=1, keks={1: KekEntry(1, KekState.primary, now,
                                                               new_key())},
                   blind_index_key=new_key())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": KEY_FILE_FORMAT,
            "format_version": 1,
            "origin": self.origin,
            "generated": self.origin == ORIGIN_GENERATED,
            "primary_version": self.primary,
            "kek_versions": [
                {
                    "version": e.version,
                    "state": e.state.value,
                    "created_at": e.created_at.isoformat(),
                    "retired_at": e.retired_at.isoformat() if e.retired_at else None,
                    "key": _b64(e.key) if e.key is not None else None,
                }
                for e in sorted(self.keks.values(), key=lambda e: e.version)
            ],
            "blind_index_key": _b64(self.blind_index_key),
        }

    @classmethod
    def from_json(cls, raw: Any) -> KeyFileState:
        if not isinstance(raw, dict) or raw.get("format") != KEY_FILE_FORMAT:
            raise UnsafeKeyFile("not a gmail-gateway key file")
        if raw.get("format_version") != 1:
            raise UnsafeKeyFile(f"unsupported key file version {raw.get('format_version')!r}")
        keks: dict[int, KekEntry] = {}
        for item in raw["kek_versions"]:
            key = _unb64(item["key"]) if item.get("key") else None
            state = KekState(item["state"])
            if key is None and state is not KekState.retired:
                raise UnsafeKeyFile(f"KEK version {item['version']} has no key material")
            if key is not None and len(key) != KEY_BYTES:
                raise UnsafeKeyFile(f"KEK version {item['version']} is not a 256-bit key")
            retired = item.get("retired_at")
            keks[int(item["version"])] = KekEntry(
                int(item["version"]), state, datetime.fromisoformat(item["created_at"]), key,
                datetime.fromisoformat(retired) if retired else None)
        primary = int(raw["primary_version"])
        if primary not in keks or keks[primary].key is None:
            raise UnsafeKeyFile("the primary KEK version has no key material")
        bik = _unb64(raw["blind_index_key"])
        if len(bik) != KEY_BYTES:
            raise UnsafeKeyFile("blind-index key is not 256 bits")
        origin = str(raw.get("origin", ORIGIN_GENERATED if raw.get("generated") else ""))
        if raw.get("generated"):
            origin = ORIGIN_GENERATED
        return cls(origin=origin, primary=primary, keks=keks, blind_index_key=bik)


def write_new_key_file(path: Path, *, origin: str) -> None:
    """Create a key file (0600, directory 0700); refuses to overwrite an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    state = KeyFileState.generate(origin)
    data = json.dumps(state.to_json(), indent=2).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


