"""A short run of the SQLite soak (bench/sqlite_soak.py): the demo as `scripts/run.sh` runs it
(gateway and emulator processes, the SQLite default, the in-process sync worker), four API
keys listing, reading, searching and sending at once, two of them pausing between rounds, one
meeting a grant its user revoked at Google and then disconnecting. No answer may be a 5xx."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _soak_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sqlite_soak", ROOT / "bench" / "sqlite_soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_sqlite_demo_serves_four_keys_without_a_5xx(tmp_path: Path) -> None:
    report = _soak_module().soak(seconds=20, idle=4, keys_count=4, messages=30,
                                 workdir=tmp_path)
    assert report["server_errors"] == 0, report["failures"]
    counts = {int(code): n for code, n in report["status_counts"].items()}
    assert counts.get(200, 0) > 40, counts  # every key got through many rounds
    assert counts.get(403, 0) >= 1, counts  # the revoked grant was met, and refused cleanly


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The soak starts its own processes; the suite's database settings must not leak in.
    for name in ("GATEWAY_DATABASE_URL", "GATEWAY_DATA_DIR", "GATEWAY_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
