#!/usr/bin/env python3
"""Print the worked example of docs/audit.md §3 ("The exact format"): one entry's content
bytes and hash, one checkpoint's signed message and Ed25519 signature.

Each value is computed twice, by the gateway's own code (`gateway.audit.canonical`,
`gateway.audit.chain`) and by the stand-alone verifier (`tools/verify_log.py`), and the script
stops if they differ; `tests/audit/test_verify_log_tool.py` checks that docs/audit.md holds
exactly this output. Ed25519 signatures are deterministic, so the example key (derived from a
fixed seed) gives the same signature on every run.

    PYTHONPATH=. .venv/bin/python tools/audit_format_example.py
"""

from __future__ import annotations

import hashlib
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent))
import verify_log

from gateway.audit.canonical import content_bytes, link_hash, signed_message
from gateway.audit.chain import checkpoint_fields
from gateway.audit.signing import key_id_of

ENTRY = {
    "id": "0b6e2f4c-5d1a-4e8b-9c3f-2a7d6e1f0c95",
    "occurred_at": datetime(2026, 12, 7, 18, 0, 0, 123456, tzinfo=UTC),
    "request_id": "req-7f3a", "tenant_id": "5a1c9e2b-3d4f-4a6b-8c7d-9e0f1a2b3c4d",
    "mailbox_id": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a", "actor_kind": "operator",
    "actor_id": "3f2e1d0c-9b8a-4765-8432-10fedcba9876", "connection_id": "api_key:gw_ab12",
    "client_ip": "203.0.113.7", "user_agent": "curl/8.5", "device_id": None,
    "protocol": "https/1.1", "upstream_protocol": None,
    "operation": "mail:message:read_content", "action": "mail.message.read_content",
    "purpose": "support", "resource_type": "message", "resource_ids": ["18c0a1"],
    "decision": "allow", "reasons": ["allow_operator_granted"],
    "policy_revision": "sha256:5e1b0c", "detail": {"grant": {"id": "g-1"}, "note": "café"},
}
SHARD, SEQ = 3, 42
PREV_HASH = hashlib.sha256(b"the entry at seq 41").digest()
SIGNED_AT = datetime(2026, 12, 7, 18, 0, 1, tzinfo=UTC)
SEED = hashlib.sha256(b"gmail-gateway audit format example key").digest()


def main() -> None:
    private = Ed25519PrivateKey.from_private_bytes(SEED)
    public = private.public_key()
    gw_values = {**ENTRY, "id": uuid.UUID(str(ENTRY["id"]))}
    content = content_bytes(gw_values)
    exported = {**ENTRY, "occurred_at": ENTRY["occurred_at"].isoformat()}  # type: ignore[union-attr]
    assert verify_log.content_bytes(exported) == content, "content encodings differ"
    digest = link_hash(PREV_HASH, SEQ, SHARD, content)
    assert verify_log.entry_hash(PREV_HASH, SEQ, SHARD, content) == digest
    key_id = key_id_of(public)
    assert verify_log.key_id(public) == key_id
    message = signed_message("checkpoint", checkpoint_fields(SHARD, SEQ, digest, SIGNED_AT,
                                                             key_id))
    checkpoint = {"shard": SHARD, "seq": SEQ, "entry_hash": digest.hex(),
                  "signed_at_us": verify_log.micros(SIGNED_AT.isoformat()), "key_id": key_id}
    assert verify_log.checkpoint_message(checkpoint) == message, "checkpoint messages differ"
    signature = private.sign(message)
    raw_public = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    position = SEQ.to_bytes(8, "big") + SHARD.to_bytes(4, "big")
    print(f"""    prev_hash (hex)       {PREV_HASH.hex()}
    seq, shard            {SEQ}, {SHARD}  ->  int64 BE || int32 BE = {position.hex()}
    content ({len(content)} bytes):
{_wrapped(content.decode("ascii"))}
    entry_hash = SHA-256(prev_hash || {position.hex()} || content)
                          = {digest.hex()}

    Ed25519 public key (raw, hex)  {raw_public.hex()}
    key_id = first 16 hex digits of SHA-256(raw public key) = {key_id}
    signed message ({len(message)} bytes):
{_wrapped(message.decode("ascii"))}
    signature (hex)
{_wrapped(signature.hex())}""")


def _wrapped(text: str, width: int = 84) -> str:
    lines = text.split("\n")
    out = []
    for line in lines:
        out += [line[i:i + width] for i in range(0, len(line), width)] or [""]
    return "\n".join("        " + line for line in out)


if __name__ == "__main__":
    main()
