"""Where the OPA binary is, and the `opa` arguments that load the policy files: what compiling
the policy to Wasm, building a signed bundle and the compliance report's rule reading share."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gateway.policy.engines.revision import load_policy_files

DEFAULT_OPA_BINARY = Path(".tools/bin/opa")


def find_opa_binary(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """$OPA_BINARY, then .tools/bin/opa (repo-local build), then `opa` on PATH."""
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    if os.environ.get("OPA_BINARY"):
        candidates.append(Path(os.environ["OPA_BINARY"]))
    repo = Path(__file__).resolve().parents[3]
    candidates.append(repo / DEFAULT_OPA_BINARY)
    on_path = shutil.which("opa")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def policy_file_args(policy_dir: Path) -> list[str]:
    """`opa run` arguments loading the policy files (data.json under its directory's path)."""
    args = []
    for policy_file in load_policy_files(policy_dir):
        path = str((policy_dir / policy_file.path).resolve())
        if policy_file.is_data and policy_file.data_path:
            path = ".".join(policy_file.data_path) + ":" + path
        args.append(path)
    return args
