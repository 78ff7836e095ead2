"""API key material: recognisable prefix (so leaked keys can be found by secret scanners),
shown once, stored only as HMAC-SHA256 under a server-side pepper."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "gmgw_"
_SECRET_BYTES = 32
DISPLAY_PREFIX_LEN = len(KEY_PREFIX) + 8


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def looks_like_api_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX) and 30 <= len(value) <= 100


def hash_api_key(pepper: bytes, key: str) -> bytes:
    return hmac.new(pepper, key.encode("utf-8"), hashlib.sha256).digest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LEN]
