"""`redact` skips its patterns when one cheap scan finds none of their trigger substrings; every
secret shape, in any letter case the pattern accepts, must still be scrubbed."""

from __future__ import annotations

import pytest

from gateway.kit.logs import redact

SECRETS = [
    "gmgw_abcdefghijklmnop",
    "Bearer abcdefgh12345678",
    "BEARER abcdefgh12345678",
    "ya29.a0AfH6SMBx-token",
    "1//0gLongRefreshTokenValue",
    "refresh_token=1234abcd",
    "REFRESH_TOKEN: 'abcd1234'",
    "Access_Token=zzzzzzzz",
    "client_secret=shh-secret",
    "Code_Verifier=verifier-value",
    "PASSWORD=hunter22",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_every_secret_shape_is_still_redacted(secret: str) -> None:
    line = f"calling with {secret} now"
    scrubbed = redact(line)
    assert "[redacted]" in scrubbed
    assert secret not in scrubbed


def test_ordinary_lines_are_returned_unchanged() -> None:
    line = "/v1/mailboxes/6f1c/messages/18c0000000000001/content"
    assert redact(line) is line
