"""The server-side pepper for API-key hashes: from settings, or generated once in dev/test."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from gateway.settings import Environment, Settings


def load_pepper(settings: Settings) -> bytes:
    if settings.api_key_pepper is not None:
        return settings.api_key_pepper.get_secret_value().encode("utf-8")
    if settings.environment is Environment.prod:
        raise RuntimeError("GATEWAY_API_KEY_PEPPER must be set in prod")
    path = Path(settings.data_dir) / "keys" / "api-key-pepper"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode("utf-8")
