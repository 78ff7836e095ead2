"""The two policy engines (same Rego files) and the factory the app uses.

- `OpaServerEngine`: an OPA server over HTTP (production sidecar), when an OPA URL is configured;
- `EmbeddedEngine`: the same files compiled to Wasm by OPA, run in-process by wasmtime (the
  default when no OPA URL is configured).
"""

from __future__ import annotations

from pathlib import Path

from gateway.policy.contract import PolicyEngine
from gateway.policy.engines.embedded import EmbeddedEngine
from gateway.policy.engines.opa_server import OpaServerEngine
from gateway.policy.engines.revision import policy_revision

__all__ = ["EmbeddedEngine", "OpaServerEngine", "build_engine", "policy_revision"]


def build_engine(policy_dir: Path, opa_url: str | None, timeout: float) -> PolicyEngine:
    """OPA server when `opa_url` is set, else the embedded engine; both on `policy_dir`.

    `timeout` bounds each HTTP call to OPA (seconds); the embedded engine evaluates in-process
    and cannot be interrupted, so it ignores it.
    """
    if opa_url:
        return OpaServerEngine(opa_url, Path(policy_dir), timeout=timeout)
    return EmbeddedEngine(Path(policy_dir))
