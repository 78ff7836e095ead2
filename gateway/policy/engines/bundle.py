"""The signed policy bundle: what an OPA sidecar loads in production.

    python -m gateway.policy.engines.bundle --signing-key private.pem --output bundle.tar.gz
    (scripts/build_bundle.sh runs this with the pinned OPA)

The bundle holds exactly the policy files (the non-test `.rego` modules, `revision.rego` among
them, and `data.json`: what the revision covers and what the gateway compares with the server's),
built by `opa build --bundle` with the policy revision as the manifest's `revision` and signed
with `--signing-key` (`.signatures.json`: a JWT over every file's SHA-256). An OPA started with
`--verification-key` refuses a bundle whose signature does not verify with that key, a file that
does not match its digest, or an unsigned bundle; the gateway then refuses any decision whose
`revision` is not the one it computes from its own copy of the files (docs/operations.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from gateway.policy.contract import PolicyEngineUnavailable
from gateway.policy.engines.opa_binary import find_opa_binary
from gateway.policy.engines.revision import checked_revision, load_policy_files

SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "ES512")


def build_bundle(policy_dir: Path, output: Path, *, signing_key: Path, opa_binary: Path,
                 signing_alg: str = "RS256", key_id: str | None = None) -> str:
    """Build and sign the bundle of `policy_dir`'s policy files into `output`; the revision."""
    if signing_alg not in SIGNING_ALGORITHMS:
        raise ValueError(f"signing algorithm {signing_alg!r}: one of {SIGNING_ALGORITHMS}")
    files = load_policy_files(Path(policy_dir))
    revision = checked_revision(files, Path(policy_dir))
    with tempfile.TemporaryDirectory(prefix="policy-bundle-") as tmp:
        root = Path(tmp) / "bundle"
        for policy_file in files:
            target = root / policy_file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(policy_dir) / policy_file.path, target)
        argv = [str(Path(opa_binary).resolve()), "build", "--bundle", ".",
                "--revision", revision, "--signing-key", str(Path(signing_key).resolve()),
                "--signing-alg", signing_alg, "--output", str(Path(output).resolve())]
        if key_id:  # OPA picks the verification key by the `keyid` claim of the signature
            claims = Path(tmp) / "claims.json"
            claims.write_text(json.dumps({"keyid": key_id}))
            argv += ["--claims-file", str(claims)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=300,  # noqa: S603
                                cwd=root)
    if result.returncode != 0:
        raise PolicyEngineUnavailable(
            f"opa build failed: {(result.stderr or result.stdout).strip()[:2000]}")
    return revision


def bundle_manifest_revision(bundle: Path) -> str | None:
    """The `revision` in a bundle's `.manifest` (what OPA reports for the bundle)."""
    with tarfile.open(bundle, "r:gz") as archive:
        for member in archive.getmembers():
            if member.name.lstrip("/") == ".manifest":
                extracted = archive.extractfile(member)
                if extracted is not None:
                    value = json.loads(extracted.read()).get("revision")
                    return value if isinstance(value, str) else None
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="build_bundle", description="Build the signed OPA bundle of the policy files.")
    parser.add_argument("--policy-dir", type=Path, default=Path("policies"))
    parser.add_argument("--signing-key", type=Path, required=True,
                        help="private key (PEM) signing the bundle; OPA verifies it with the "
                             "public key given as --verification-key")
    parser.add_argument("--signing-alg", default="RS256", choices=SIGNING_ALGORITHMS)
    parser.add_argument("--key-id", default=None,
                        help="key id in the signature (OPA's --verification-key-id; "
                             "default: OPA's `default`)")
    parser.add_argument("--output", type=Path, default=Path("bundle.tar.gz"))
    args = parser.parse_args(argv)
    opa = find_opa_binary()
    if opa is None:
        parser.error("no OPA binary ($OPA_BINARY, .tools/bin/opa or opa on PATH)")
    revision = build_bundle(args.policy_dir, args.output, signing_key=args.signing_key,
                            opa_binary=opa, signing_alg=args.signing_alg, key_id=args.key_id)
    print(f"wrote {args.output} (policy revision {revision})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
