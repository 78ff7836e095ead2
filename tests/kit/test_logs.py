"""Logs are JSON, carry the request id, and never contain keys, tokens or content."""

from __future__ import annotations

import io
import json
import logging

from fastapi.testclient import TestClient

from gateway.kit.logs import JsonFormatter, redact
from tests.support.world import TenantWorld

SECRETS = [
    "ya29.a0AfB_byC-secret-access-token",
    "1//0gSecretRefreshTokenValue-xyz",
]


def test_redact_scrubs_known_secret_shapes() -> None:
    line = ("key gmgw_abcdefghijklmnop Bearer abc.def.ghi ya29.tok 1//refreshtokenvalue "
            'refresh_token="r-123" client_secret=s3cr3t')
    scrubbed = redact(line)
    for secret in ("gmgw_abcdefghijklmnop", "abc.def.ghi", "ya29.tok", "1//refreshtokenvalue",
                   "r-123", "s3cr3t"):
        assert secret not in scrubbed
    assert scrubbed.count("[redacted]") >= 6


def test_secrets_sent_to_the_api_never_reach_the_logs(client: TestClient,
                                                      tenant_a: TenantWorld) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        key = tenant_a.crm.key
        client.get("/v1/mailboxes", headers=tenant_a.crm.headers())
        client.get("/v1/mailboxes", headers={"Authorization": f"Bearer {key}x"})
        client.get(f"/v1/mailboxes?token={SECRETS[0]}", headers={
            "Authorization": f"Bearer {SECRETS[1]}", "Gateway-Purpose": "user_facing"})
        client.get(f"/v1/mailboxes/{SECRETS[0]}", headers=tenant_a.crm.headers())
        try:
            raise ValueError(f"boom with {SECRETS[1]} and subject 'Quarterly numbers'")
        except ValueError:
            logging.getLogger("gateway.test").exception("failure while handling")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert any(line.get("route") == "/v1/mailboxes" for line in lines)
    assert all("request_id" in line for line in lines)
    for secret in [key, *SECRETS, "Quarterly numbers"]:
        assert secret not in output
    failure = next(line for line in lines if line["msg"] == "failure while handling")
    assert failure["error"]["type"] == "ValueError"
    assert "Traceback" not in output
