"""The policy files and their revision: which policies decided (in every Decision and log entry).

Policy files = the non-test Rego modules (`*.rego` but not `*_test.rego`) and the data documents
(`data.json`, OPA's bundle convention: a `data.json` in directory `a/b` is `data.a.b`) under the
policy directory. The tables the rules consult live in `data.json` (a lookup in data is
cheaper for the evaluators than a large Rego literal), so they are part of the
policy and of its revision.

revision = "sha256:" + sha256 over the policy files except `revision.rego`, in order of their
path relative to the policy directory; for each file: its relative POSIX path, a NUL, its bytes,
a NUL.

The policy carries its own revision: `revision.rego` (written by scripts/compile_policy.sh from
the other files, never by hand) defines `data.gateway.authz.policy_revision`, and every decision
document returns it as `revision`. The gateway computes the same hash from its own copy of the
files and refuses any decision that names another revision (`PolicyRevisionMismatch`), so a
decision is accepted only from the policy files the gateway was deployed with. A `revision.rego`
that does not name the hash of the files beside it is refused at start-up.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.policy.contract import PolicyEngineUnavailable

REVISION_PREFIX = "sha256:"
DATA_FILE = "data.json"
REVISION_MODULE = "revision.rego"  # at the root of the policy directory; generated
REVISION_RULE = "policy_revision"
_DECLARED = re.compile(r'^policy_revision := "(sha256:[0-9a-f]{64})"$', re.MULTILINE)


@dataclass(frozen=True)
class PolicyModule:
    path: str  # relative to the policy directory, POSIX separators
    source: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    @property
    def is_data(self) -> bool:
        return self.path.rsplit("/", 1)[-1] == DATA_FILE

    @property
    def data_path(self) -> tuple[str, ...]:
        """Where a data document is mounted under `data` (its directory)."""
        return tuple(self.path.split("/")[:-1])


def is_test_module(path: str) -> bool:
    return path.endswith("_test.rego")


def load_policy_files(policy_dir: Path) -> tuple[PolicyModule, ...]:
    """The policy files under `policy_dir` (non-test modules and data.json), sorted by path."""
    root = Path(policy_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"policy directory {root} does not exist")
    files = []
    for file in sorted(root.rglob("*")):
        if not file.is_file():
            continue
        rel = file.relative_to(root).as_posix()
        if (file.suffix == ".rego" and not is_test_module(rel)) or file.name == DATA_FILE:
            files.append(PolicyModule(rel, file.read_text(encoding="utf-8")))
    files.sort(key=lambda m: m.path)
    if not any(not f.is_data for f in files):
        raise FileNotFoundError(f"no policy modules (*.rego) under {root}")
    return tuple(files)


def rego_modules(files: tuple[PolicyModule, ...]) -> tuple[PolicyModule, ...]:
    return tuple(f for f in files if not f.is_data)


def merged_data(files: tuple[PolicyModule, ...]) -> dict[str, Any]:
    """The base document the data files make, as OPA mounts them."""
    document: dict[str, Any] = {}
    for file in files:
        if not file.is_data:
            continue
        value = json.loads(file.source)
        if not isinstance(value, dict):
            raise ValueError(f"{file.path}: a data document must be a JSON object")
        node = document
        for key in file.data_path:
            node = node.setdefault(key, {})
        _merge(node, value, file.path)
    return document


def _merge(into: dict[str, Any], value: dict[str, Any], where: str) -> None:
    for key, item in value.items():
        if key in into and isinstance(into[key], dict) and isinstance(item, dict):
            _merge(into[key], item, where)
        elif key in into:
            raise ValueError(f"{where}: data key {key!r} defined twice")
        else:
            into[key] = item


def revision_of(files: tuple[PolicyModule, ...] | list[PolicyModule]) -> str:
    """The hash of the policy files, `revision.rego` (which declares it) excluded."""
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda m: m.path):
        if file.path == REVISION_MODULE:
            continue
        digest.update(file.path.encode("utf-8"))
        digest.update(b"\0")
        digest.update(file.source.encode("utf-8"))
        digest.update(b"\0")
    return REVISION_PREFIX + digest.hexdigest()


def policy_revision(policy_dir: Path) -> str:
    return revision_of(load_policy_files(policy_dir))


def render_revision_module(revision: str) -> str:
    """`revision.rego` for `revision` (formatted as `opa fmt` writes it)."""
    return (
        "# The revision of this policy set, returned in every decision (`revision`). Written by\n"
        "# scripts/compile_policy.sh from the other policy files (gateway/policy/engines/"
        "revision.py);\n"
        "# never edit it by hand: the gateway refuses decisions naming any other revision.\n"
        "package gateway.authz\n\n"
        f'{REVISION_RULE} := "{revision}"\n')


def declared_revision(files: tuple[PolicyModule, ...] | list[PolicyModule]) -> str | None:
    """The revision `revision.rego` declares, or None when it is missing or malformed."""
    for file in files:
        if file.path == REVISION_MODULE:
            match = _DECLARED.search(file.source)
            return match.group(1) if match else None
    return None


def checked_revision(files: tuple[PolicyModule, ...] | list[PolicyModule],
                     policy_dir: Path) -> str:
    """The files' revision, after checking that `revision.rego` declares exactly it (the value
    every decision carries). Raises PolicyEngineUnavailable saying how to fix it otherwise."""
    revision = revision_of(files)
    declared = declared_revision(files)
    if declared != revision:
        found = f"declares {declared}" if declared else "is missing or malformed"
        raise PolicyEngineUnavailable(
            f"{Path(policy_dir) / REVISION_MODULE} {found}, but the policy files are revision "
            f"{revision}: run scripts/compile_policy.sh after editing the policies")
    return revision


def write_revision_module(policy_dir: Path) -> str:
    """(Re)write `revision.rego` for the files under `policy_dir`; the revision."""
    files = [f for f in load_policy_files(policy_dir) if f.path != REVISION_MODULE]
    revision = revision_of(files)
    (Path(policy_dir) / REVISION_MODULE).write_text(render_revision_module(revision),
                                                    encoding="utf-8")
    return revision
