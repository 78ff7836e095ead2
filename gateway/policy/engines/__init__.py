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
from gateway.settings import Settings

__all__ = ["EmbeddedEngine", "OpaServerEngine", "build_engine", "engine_from_settings",
           "policy_revision"]


def build_engine(policy_dir: Path, opa_url: str | None, timeout: float, *,
                 token: str | None = None, ca_file: Path | None = None,
                 client_cert: Path | None = None,
                 client_key: Path | None = None,
                 require_bundle: bool = False) -> PolicyEngine:
    """OPA server when `opa_url` is set, else the embedded engine; both on `policy_dir`.

    `timeout` bounds each HTTP call to OPA (seconds); the embedded engine evaluates in-process
    and cannot be interrupted, so it ignores it. `token`, `ca_file`, `client_cert` and
    `client_key` authenticate the gateway and the OPA server to each other; `require_bundle`
    makes the OPA server prove it loaded our revision as a bundle (OpaServerEngine).
    """
    if opa_url:
        return OpaServerEngine(opa_url, Path(policy_dir), timeout=timeout, token=token,
                               ca_file=ca_file, client_cert=client_cert, client_key=client_key,
                               require_bundle=require_bundle)
    return EmbeddedEngine(Path(policy_dir))


def engine_from_settings(settings: Settings) -> PolicyEngine:
    """The engine the settings describe (GATEWAY_POLICY_*)."""
    token = settings.policy_engine_token
    return build_engine(settings.policy_dir, settings.policy_engine_url,
                        settings.policy_timeout_seconds,
                        token=token.get_secret_value() if token is not None else None,
                        ca_file=settings.policy_engine_ca_file,
                        client_cert=settings.policy_engine_client_cert_file,
                        client_key=settings.policy_engine_client_key_file,
                        require_bundle=settings.policy_engine_bundle_required)
