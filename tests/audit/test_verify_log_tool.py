"""The stand-alone verifier (`tools/verify_log.py`), black-box: a real chain written by the
gateway and exported with `gmail-gateway audit export` verifies; each tampering of the export
a reviewer's copy could suffer is named; the tool imports nothing but the standard library
and `cryptography`; docs/audit.md's worked example is what the format really produces."""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit.signing import AuditSigner, write_signing_key
from gateway.audit.writer import OperationLog
from gateway.cli import main
from gateway.kit.db import Database
from tests.audit.conftest import RecordFactory, append_each, run_verify, single_chain

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "verify_log.py"
sys.path.insert(0, str(TOOL.parent))
import verify_log  # noqa: E402

ODD_TEXT = 'quote " backslash \\ café ☃ \u2028 <tag>'


@pytest.fixture
def exported(db: Database, oplog: OperationLog, signer: AuditSigner, record: RecordFactory,
             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Eleven entries on one chain (signed at 1, then every 3), exported by the CLI."""
    single_chain(db)
    append_each(db, oplog, [record(user_agent=ODD_TEXT if n == 4 else "pytest",
                                   detail={"n": n, "ratio": 0.1 * n, "label": ODD_TEXT},
                                   device_id=None if n % 2 else f"dev-{n}")
                            for n in range(11)])
    assert run_verify(db, verify_log_keys(signer)).ok
    data = tmp_path / "data"
    write_signing_key(data / "keys" / "audit-signing.ed25519.pem", signer)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db.engine.url.render_as_string(False))
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data))
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "dev")
    out = tmp_path / "export"
    assert main(["audit", "export", "--out", str(out)]) == 0
    return out


def verify_log_keys(signer: AuditSigner) -> Any:
    from gateway.audit.signing import TrustedKeys

    return TrustedKeys([signer.private_key.public_key()])


def load(out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    def rows(name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (out / name).read_text().split("\n") if line]

    return (sorted(rows("entries.jsonl"), key=lambda e: e["seq"]), rows("checkpoints.jsonl"))


def run_tool(out: Path, entries: list[dict[str, Any]] | None = None,
             checkpoints: list[dict[str, Any]] | None = None, *extra: str
             ) -> tuple[int, dict[str, Any]]:
    """The tool as a reviewer runs it: another process, isolated mode (-I: no PYTHONPATH, no
    current directory on the path), files only."""
    if entries is not None:
        (out / "entries.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    if checkpoints is not None:
        (out / "checkpoints.jsonl").write_text(
            "".join(json.dumps(c) + "\n" for c in checkpoints))
    keys = [arg for key in sorted((out / "keys").glob("*.pem")) for arg in ("--key", str(key))]
    done = subprocess.run([sys.executable, "-I", str(TOOL), str(out / "entries.jsonl"),
                           "--checkpoints", str(out / "checkpoints.jsonl"), *keys, "--json",
                           *extra], capture_output=True, text=True, cwd=out, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def kinds(report: dict[str, Any]) -> set[tuple[int, str]]:
    return {(p["seq"], p["kind"]) for p in report["problems"]}


def rehash_from(entries: list[dict[str, Any]], start: int) -> None:
    """What someone without the signing key does after an edit: recompute every hash after it."""
    for index in range(start, len(entries)):
        entry = entries[index]
        if index:
            entry["prev_hash"] = entries[index - 1]["entry_hash"]
        entry["entry_hash"] = verify_log.entry_hash(
            bytes.fromhex(entry["prev_hash"]), entry["seq"], entry["shard"],
            verify_log.content_bytes(entry)).hex()


def test_a_real_chain_verifies_and_reports_its_unsigned_tail(exported: Path) -> None:
    entries, checkpoints = load(exported)
    assert [e["seq"] for e in entries] == list(range(1, 12))
    assert [c["seq"] for c in checkpoints] == [1, 4, 7, 10]
    status, report = run_tool(exported)
    assert status == 0 and report["ok"], report
    assert report["entries"] == 11 and report["checkpoints"] == 4
    assert report["unsigned_tail"]["0"]["entries"] == 1


def test_each_tampering_is_named(exported: Path) -> None:
    entries, checkpoints = load(exported)

    def tampered(change: Any, *, cps: list[dict[str, Any]] | None = None) -> set[tuple[int, str]]:
        copied = copy.deepcopy(entries)
        result = change(copied)
        status, report = run_tool(exported, result if result is not None else copied,
                                  cps if cps is not None else checkpoints)
        assert status == 1 and not report["ok"], report
        return kinds(report)

    def edit(rows: list[dict[str, Any]]) -> None:
        rows[4]["decision"] = "deny"
    assert tampered(edit) == {(5, "altered")}

    def edit_json(rows: list[dict[str, Any]]) -> None:
        rows[4]["detail"]["n"] = 99
    assert tampered(edit_json) == {(5, "altered")}

    assert (5, "missing") in tampered(lambda rows: rows[:4] + rows[5:])

    def reorder(rows: list[dict[str, Any]]) -> None:
        for key in ("seq", "prev_hash", "entry_hash"):
            rows[3][key], rows[4][key] = rows[4][key], rows[3][key]
    assert tampered(reorder) == {(4, "altered"), (5, "altered")}

    def insert(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        forged = copy.deepcopy(rows[4])
        forged["actor_id"] = "someone-else"
        forged["entry_hash"] = verify_log.entry_hash(
            bytes.fromhex(forged["prev_hash"]), 5, 0, verify_log.content_bytes(forged)).hex()
        return [*rows, forged]
    assert (5, "duplicate") in tampered(insert)

    def insert_and_renumber(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        forged = copy.deepcopy(rows[4])
        forged["id"] = "00000000-0000-4000-8000-000000000000"
        shifted = [*rows[:5], forged, *rows[5:]]
        for seq, row in enumerate(shifted, 1):
            row["seq"] = seq
        rehash_from(shifted, 5)
        return shifted
    assert (7, "checkpoint_mismatch") in tampered(insert_and_renumber)

    assert tampered(lambda rows: rows[:8]) == {(10, "tail_missing")}

    def edit_and_rehash(rows: list[dict[str, Any]]) -> None:
        rows[1]["actor_id"] = "someone-else"
        rehash_from(rows, 1)
    assert tampered(edit_and_rehash) == {(4, "checkpoint_mismatch"), (7, "checkpoint_mismatch"),
                                         (10, "checkpoint_mismatch")}

    flipped = copy.deepcopy(checkpoints)
    flipped[1]["signature"] = ("00" if flipped[1]["signature"][:2] != "00" else "11") + \
        flipped[1]["signature"][2:]
    assert tampered(lambda rows: None, cps=flipped) == {(4, "checkpoint_signature_invalid")}

    # A chain recomputed after an edit, with checkpoints re-signed by a key nobody trusts.
    intruder = Ed25519PrivateKey.generate()
    rows = copy.deepcopy(entries)
    rows[1]["actor_id"] = "someone-else"
    rehash_from(rows, 1)
    forged_cps = []
    for cp in checkpoints:
        new = {**cp, "entry_hash": rows[cp["seq"] - 1]["entry_hash"],
               "key_id": verify_log.key_id(intruder.public_key())}
        new["signature"] = intruder.sign(verify_log.checkpoint_message(new)).hex()
        forged_cps.append(new)
    assert tampered(lambda _: rows, cps=forged_cps) == {
        (1, "checkpoint_signature_invalid"), (4, "checkpoint_signature_invalid"),
        (7, "checkpoint_signature_invalid"), (10, "checkpoint_signature_invalid")}


def test_the_tool_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(TOOL.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


def test_the_documented_worked_example_is_what_the_code_produces() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "audit_format_example.py")],
                          capture_output=True, text=True, check=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert "entry_hash = SHA-256" in done.stdout
    assert done.stdout.rstrip("\n") in (ROOT / "docs" / "audit.md").read_text()
