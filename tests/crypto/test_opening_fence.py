"""Who may open what, read from the source (AST), not from convention.

The crypto service has two public ways to open a ciphertext: `open_content` /
`open_content_text` (user content, with the `Access` the enforcement point minted) and
`open_owned_secret` (the gateway's own secrets). The lists below name every module allowed to
use each; a new caller fails here until it is reviewed and added (docs/encryption.md, "Who may
open what"). The decryption underneath (`CryptoService._open`, `aead.open_record`, the
keyring's `key_for`) is used inside gateway/crypto and nowhere else in the product, the
benches, the tools or the emulator; only the primitive's own tests and benchmark (tests/crypto,
bench/crypto_bench.py) call it directly. An `Access` is constructed only in
gateway/policy/enforcement.py.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from gateway.consent.models import REQUESTS_TABLE
from gateway.crypto.fields import EncryptedColumn
from gateway.crypto.owned import OWNED_SECRET_COLUMNS
from gateway.justifications.models import TABLE as JUSTIFICATIONS_TABLE
from gateway.kit.schema import load_all_models
from gateway.mailboxes.models import TOKENS_TABLE
from gateway.webhooks.models import ENDPOINTS_TABLE

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("gateway", "emulator", "bench", "tools")

# User content, opened under an Access covering its mailbox.
OPEN_CONTENT = {
    # message summaries, bodies, raw bytes (read routes, export)
    "gateway/mail/store/repository.py",
    "gateway/mail/store/labels.py",   # label names (label routes)
    "gateway/sync/labels.py",        # label names compared under the sync step's system Access
    "gateway/mailboxes/address.py",  # the mailbox's Google address (mailbox routes, OAuth pages)
    "bench/mail_read_bench.py",      # wraps open_content to time it (--attribute)
}
# Secrets the gateway owns (gateway.crypto.owned); no Access, no user-content column.
OPEN_OWNED_SECRET = {
    "gateway/mailboxes/tokens.py",        # OAuth refresh and access tokens
    "gateway/webhooks/sealing.py",        # webhook signing secrets
    "gateway/justifications/service.py",  # reviewers' sealed justification reasons
    "gateway/consent/service.py",         # operators' sealed consent-request justifications
}
PUBLIC_PATHS = {
    "open_content": OPEN_CONTENT,
    "open_content_text": OPEN_CONTENT,
    "open_owned_secret": OPEN_OWNED_SECRET,
}
# The decryption underneath the public paths, and the way to mint an Access.
INTERNAL = {"_open", "open_record", "key_for", "_MINT"}
PRIMITIVE_TESTS = ("tests/crypto/", "bench/crypto_bench.py")
# The old unchecked names: gone from CryptoService; a call to them on anything crypto-like is
# someone reintroducing an unfenced path.
RETIRED = {"open_text"}


def _python_files(*tops: str) -> Iterator[tuple[str, ast.Module]]:
    for top in tops:
        for path in sorted((ROOT / top).rglob("*.py")):
            if ".venv" in path.parts or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(ROOT).as_posix()
            yield rel, ast.parse(path.read_text(encoding="utf-8"), filename=rel)


def _references(tree: ast.Module, names: set[str]) -> Iterator[tuple[str, int]]:
    """Every use of one of `names`: as an attribute, a bare name, an imported name or a string
    (getattr), with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in names:
            yield node.attr, node.lineno
        elif isinstance(node, ast.Name) and node.id in names:
            yield node.id, node.lineno
        elif isinstance(node, ast.alias) and node.name in names:
            yield node.name, node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value in names:
            yield node.value, node.lineno


def test_each_public_opening_path_has_only_its_listed_callers() -> None:
    found: dict[str, set[str]] = {name: set() for name in PUBLIC_PATHS}
    unexpected = []
    for rel, tree in _python_files(*PRODUCT):
        if rel.startswith("gateway/crypto/"):
            continue
        for name, line in _references(tree, set(PUBLIC_PATHS)):
            found[name].add(rel)
            if rel not in PUBLIC_PATHS[name]:
                unexpected.append(f"{rel}:{line} uses {name}")
    assert unexpected == [], ("a new caller of an opening path: review it and list it in "
                              "tests/crypto/test_opening_fence.py and docs/encryption.md")
    # The lists hold no stale entries either: every listed module still uses its path.
    for name in ("open_owned_secret",):
        assert found[name] == PUBLIC_PATHS[name]
    assert found["open_content"] | found["open_content_text"] == OPEN_CONTENT


def test_nothing_outside_gateway_crypto_decrypts_underneath_the_fence() -> None:
    offenders = []
    for rel, tree in _python_files(*PRODUCT, "tests"):
        if rel.startswith("gateway/crypto/") or rel == "tests/crypto/test_opening_fence.py":
            continue
        for name, line in _references(tree, INTERNAL):
            if name == "_MINT" and rel == "gateway/policy/enforcement.py":
                continue
            if name != "_MINT" and rel.startswith(PRIMITIVE_TESTS):
                continue
            offenders.append(f"{rel}:{line} uses {name}")
    assert offenders == []


def test_no_unchecked_open_remains_on_the_crypto_service() -> None:
    offenders = [f"{rel}:{line}" for rel, tree in _python_files(*PRODUCT)
                 for _name, line in _references(tree, RETIRED)]
    assert offenders == []


def test_an_access_is_constructed_only_by_the_enforcement_point() -> None:
    offenders = []
    for rel, tree in _python_files(*PRODUCT):
        if rel == "gateway/policy/enforcement.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (
                    (isinstance(node.func, ast.Name) and node.func.id == "Access")
                    or (isinstance(node.func, ast.Attribute) and node.func.attr == "Access")):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_every_encrypted_column_is_classified_and_the_owned_list_names_real_columns() -> None:
    encrypted = {(table.name, column.name)
                 for table in load_all_models().tables.values()
                 for column in table.columns if isinstance(column.type, EncryptedColumn)}
    assert encrypted >= OWNED_SECRET_COLUMNS
    assert {table for table, _ in OWNED_SECRET_COLUMNS} == {
        TOKENS_TABLE, ENDPOINTS_TABLE, JUSTIFICATIONS_TABLE, REQUESTS_TABLE}
    # What is left is user content: it opens only with an Access.
    assert encrypted - OWNED_SECRET_COLUMNS == {
        ("mailboxes", "email_address"), ("messages", "summary"), ("messages", "body"),
        ("messages", "raw"), ("labels", "name")}
