"""The embedded engine's compiled policy: policies/ compiled to WebAssembly by OPA's own compiler.

`opa build -t wasm -e gateway/authz/decision <policy files>` turns the same Rego files the OPA
server runs into one `policy.wasm` (OPA's Wasm ABI 1.2+). The build is deterministic (same OPA
version, same files -> same bytes), so the compiled module for policies/ is committed beside
them (`policies/compiled/decision.wasm`) with a stamp naming the policy revision it was built
from, the OPA version and the module's SHA-256: the gateway then starts with the embedded engine
on a machine without Go or OPA (the README's first command).

`load_compiled` returns the module bytes for a policy directory:
- the committed artifact when its stamp names exactly the directory's current revision and the
  bytes match the stamp's hash;
- otherwise (policies edited, another policy directory) a fresh compile with the OPA binary
  (`find_opa_binary`: $OPA_BINARY, .tools/bin/opa, PATH), kept in memory only (a compiled policy
  cached on disk outside the repository would be a policy anyone with write access there could
  replace);
- otherwise `PolicyEngineUnavailable` saying how to rebuild (`scripts/compile_policy.sh`).
tests/policy/test_compiled_policy.py fails when the committed artifact is not what the OPA
binary compiles from the current files, so the fallback never serves a release.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gateway.policy.contract import PolicyEngineUnavailable
from gateway.policy.engines.opa_binary import find_opa_binary, policy_file_args
from gateway.policy.engines.revision import policy_revision

log = logging.getLogger(__name__)

ENTRYPOINT = "gateway/authz/decision"
COMPILED_DIR = "compiled"
ARTIFACT = "decision.wasm"
STAMP = "decision.stamp"  # not .json: `opa test policies/` would load it as data


@dataclass(frozen=True)
class Stamp:
    revision: str
    opa_version: str
    sha256: str

    def render(self) -> str:
        return (f"revision {self.revision}\nopa {self.opa_version}\nentrypoint {ENTRYPOINT}\n"
                f"sha256 {self.sha256}\n")

    @classmethod
    def parse(cls, text: str) -> Stamp | None:
        fields = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
        if fields.get("entrypoint") != ENTRYPOINT:
            return None
        try:
            return cls(fields["revision"], fields["opa"], fields["sha256"])
        except KeyError:
            return None


def opa_version(opa_binary: Path) -> str:
    out = subprocess.run([str(opa_binary), "version"], capture_output=True, text=True,  # noqa: S603
                         check=True, timeout=60).stdout
    for line in out.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def compile_wasm(opa_binary: Path, policy_dir: Path) -> bytes:
    """`opa build -t wasm` on the policy files of `policy_dir`; the module's bytes."""
    with tempfile.TemporaryDirectory(prefix="policy-wasm-") as tmp:
        bundle = Path(tmp) / "bundle.tar.gz"
        # Paths relative to the policy directory: the module records its source file names
        # (for error locations), so absolute paths would make the bytes depend on the checkout.
        root = Path(policy_dir).resolve()
        files = [arg.replace(f"{root}/", "") for arg in policy_file_args(root)]
        result = subprocess.run(  # noqa: S603 - a fixed argv, no shell
            [str(Path(opa_binary).resolve()), "build", "-t", "wasm", "-e", ENTRYPOINT,
             "-o", str(bundle), *files],
            capture_output=True, text=True, timeout=300, cwd=root)
        if result.returncode != 0:
            raise PolicyEngineUnavailable(
                f"policies did not compile: {(result.stderr or result.stdout).strip()[:2000]}")
        with tarfile.open(bundle, "r:gz") as archive:
            for member in archive.getmembers():
                if member.name.lstrip("/") == "policy.wasm":
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        return extracted.read()
    raise PolicyEngineUnavailable("opa build produced no policy.wasm")


def _committed(policy_dir: Path, revision: str) -> bytes | None:
    stamp_file = Path(policy_dir) / COMPILED_DIR / STAMP
    artifact = Path(policy_dir) / COMPILED_DIR / ARTIFACT
    if not stamp_file.is_file() or not artifact.is_file():
        return None
    stamp = Stamp.parse(stamp_file.read_text(encoding="utf-8"))
    if stamp is None or stamp.revision != revision:
        return None
    module = artifact.read_bytes()
    if hashlib.sha256(module).hexdigest() != stamp.sha256:
        log.warning("the committed compiled policy does not match its stamp; recompiling")
        return None
    return module


def load_compiled(policy_dir: Path, revision: str | None = None) -> bytes:
    """The Wasm module deciding `policy_dir`'s current files (see the module docstring)."""
    revision = revision or policy_revision(policy_dir)
    module = _committed(policy_dir, revision)
    if module is not None:
        return module
    opa = find_opa_binary()
    if opa is None:
        raise PolicyEngineUnavailable(
            f"{Path(policy_dir) / COMPILED_DIR / ARTIFACT} is missing or was built from other "
            "policy files, and no OPA binary is available to compile them: run "
            "scripts/compile_policy.sh")
    log.info("compiling the policies to WebAssembly with %s", opa,
             extra={"policy_revision": revision})
    return compile_wasm(opa, policy_dir)


def write_compiled(policy_dir: Path, opa_binary: Path) -> Path:
    """Compile `policy_dir` and commit-ready write the artifact and its stamp; the artifact path."""
    module = compile_wasm(opa_binary, policy_dir)
    out = Path(policy_dir) / COMPILED_DIR
    out.mkdir(exist_ok=True)
    stamp = Stamp(policy_revision(policy_dir), opa_version(opa_binary),
                  hashlib.sha256(module).hexdigest())
    (out / ARTIFACT).write_bytes(module)
    (out / STAMP).write_text(stamp.render(), encoding="utf-8")
    return out / ARTIFACT


def read_stamp(policy_dir: Path) -> Stamp | None:
    stamp_file = Path(policy_dir) / COMPILED_DIR / STAMP
    if not stamp_file.is_file():
        return None
    return Stamp.parse(stamp_file.read_text(encoding="utf-8"))


__all__ = ["ENTRYPOINT", "Stamp", "compile_wasm", "load_compiled", "read_stamp",
           "write_compiled"]
