"""OpaServerProcess starts OPA with the Go runtime settings docs/operations.md recommends for a
sidecar (GOMAXPROCS=1, GOGC=400) unless the environment chose its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.opa_process import OpaServerProcess


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_the_sidecar_runs_with_one_processor_and_gogc_400(
        opa_binary: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOMAXPROCS", raising=False)
    monkeypatch.delenv("GOGC", raising=False)
    with OpaServerProcess(opa_binary, policy_dir) as server:
        assert server.pid is not None
        env = _environ(server.pid)
    assert env["GOMAXPROCS"] == "1"
    assert env["GOGC"] == "400"


def test_the_environment_and_none_leave_go_to_itself(
        opa_binary: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOGC", "150")
    monkeypatch.delenv("GOMAXPROCS", raising=False)
    with OpaServerProcess(opa_binary, policy_dir, gomaxprocs=None) as server:
        assert server.pid is not None
        env = _environ(server.pid)
    assert env["GOGC"] == "150"  # the operator's choice wins
    assert "GOMAXPROCS" not in env  # None: Go's default
