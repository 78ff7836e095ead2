"""Fixtures for the policy tests. The OPA binary and server come from tests/conftest.py
(`opa_binary` fails in CI when the binary is missing, skips elsewhere; `opa_url` is a real
`opa run --server` on policies/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.policy.engines import EmbeddedEngine, OpaServerEngine
from tests.support.decision_table import TableCase, load_decision_table

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = ROOT / "policies"
TABLE = POLICY_DIR / "decision_table.yaml"


@pytest.fixture(scope="session")
def policy_dir() -> Path:
    return POLICY_DIR


@pytest.fixture(scope="session")
def table_cases() -> list[TableCase]:
    return load_decision_table(TABLE)


@pytest.fixture(scope="session")
def embedded_engine() -> Iterator[EmbeddedEngine]:
    engine = EmbeddedEngine(POLICY_DIR)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def opa_engine(opa_url: str) -> Iterator[OpaServerEngine]:
    engine = OpaServerEngine(opa_url, POLICY_DIR, timeout=5.0)
    yield engine
    engine.close()
