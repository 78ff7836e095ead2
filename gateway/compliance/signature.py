"""The report's signature: an Ed25519 signature, with the operation log's checkpoint key, over
the SHA-256 of every file of the report (`signature.json`).

    signed bytes = "gmail-gateway/audit/compliance-report/v1\\n"
                   + canonical JSON {"files": {name: sha256 hex, ...}, "key_id": ...}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from gateway.audit.canonical import signed_message
from gateway.audit.signing import AuditSigner, TrustedKeys

SIGNATURE_FILE = "signature.json"
KIND = "compliance-report"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sign_directory(out: Path, names: list[str], signer: AuditSigner) -> dict[str, Any]:
    fields = {"files": {name: _digest(out / name) for name in sorted(names)},
              "key_id": signer.key_id}
    signature = signer.sign(signed_message(KIND, fields))
    document = {**fields, "signature": signature.hex(), "algorithm": "Ed25519",
                "format": f"gmail-gateway/audit/{KIND}/v1"}
    (out / SIGNATURE_FILE).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n",
                                      encoding="utf-8")
    return document


def check_directory(out: Path, trusted: TrustedKeys) -> list[str]:
    """Problems with the signature or the files it covers; empty means intact."""
    try:
        document = json.loads((out / SIGNATURE_FILE).read_text(encoding="utf-8"))
        files = dict(document["files"])
        key_id = str(document["key_id"])
        signature = bytes.fromhex(document["signature"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{SIGNATURE_FILE} cannot be read: {type(exc).__name__}"]
    problems = []
    if not trusted.verify(key_id, signed_message(KIND, {"files": files, "key_id": key_id}),
                          signature):
        problems.append(f"the signature does not verify with a trusted key (key {key_id})")
    for name, digest in sorted(files.items()):
        path = out / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif _digest(path) != digest:
            problems.append(f"{name} was changed after signing")
    if "report.json" not in files:
        problems.append("the signature does not cover report.json")
    return problems
