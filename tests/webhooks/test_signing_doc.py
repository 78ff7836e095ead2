"""The verification snippet in docs/webhooks.md works as written, and agrees with the signer."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.webhooks import signing

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def doc_verify() -> Callable[..., bool]:
    match = re.search(r"## Verifying the signature\s+```python\n(.*?)```", DOC.read_text(), re.S)
    assert match is not None
    namespace: dict[str, Any] = {}
    exec(match.group(1), namespace)  # our own documentation
    verify: Callable[..., bool] = namespace["verify"]
    return verify


def test_the_documented_verifier_accepts_our_signature_and_nothing_else() -> None:
    verify = doc_verify()
    body = b'{"id":"e-1","type":"message.created"}'
    header = signing.sign("whsec_abc", body)
    assert verify("whsec_abc", body, header)
    assert not verify("whsec_abd", body, header)
    assert not verify("whsec_abc", body + b" ", header)
    assert not verify("whsec_abc", body, signing.sign("whsec_abc", body, int(time.time()) - 900))
    assert not verify("whsec_abc", body, "v1=" + header.split("v1=")[1])  # no timestamp
    assert not verify("whsec_abc", body, "garbage")
