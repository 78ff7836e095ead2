"""The policy revision: which policies decided. Written into every Decision and the operation log.

revision = sha256 over the non-test `.rego` files under the policy directory, in order of their
path relative to that directory; for each file, its relative POSIX path, a NUL, its bytes, a NUL.
Test modules (`*_test.rego`) are not part of what decides, so they do not change the revision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

REVISION_PREFIX = "sha256:"


@dataclass(frozen=True)
class PolicyModule:
    path: str  # relative to the policy directory, POSIX separators
    source: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()


def is_test_module(path: str) -> bool:
    return path.endswith("_test.rego")


def load_policy_modules(policy_dir: Path) -> tuple[PolicyModule, ...]:
    """The non-test Rego modules under `policy_dir`, sorted by relative path."""
    root = Path(policy_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"policy directory {root} does not exist")
    modules = []
    for file in sorted(root.rglob("*.rego")):
        rel = file.relative_to(root).as_posix()
        if is_test_module(rel) or not file.is_file():
            continue
        modules.append(PolicyModule(rel, file.read_text(encoding="utf-8")))
    modules.sort(key=lambda m: m.path)
    if not modules:
        raise FileNotFoundError(f"no policy modules (*.rego) under {root}")
    return tuple(modules)


def revision_of(modules: tuple[PolicyModule, ...] | list[PolicyModule]) -> str:
    digest = hashlib.sha256()
    for module in sorted(modules, key=lambda m: m.path):
        digest.update(module.path.encode("utf-8"))
        digest.update(b"\0")
        digest.update(module.source.encode("utf-8"))
        digest.update(b"\0")
    return REVISION_PREFIX + digest.hexdigest()


def policy_revision(policy_dir: Path) -> str:
    return revision_of(load_policy_modules(policy_dir))
