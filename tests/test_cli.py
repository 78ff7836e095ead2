"""The admin command line, end to end on a SQLite file (the embedded default)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'gw.db'}")
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "dev")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_tenants_principals_and_keys(sqlite_env: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    tenant = run(capsys, "tenants", "create", "acme")
    assert tenant["slug"] == "acme"
    principal = run(capsys, "principals", "create", "--tenant", "acme", "--kind", "crm_service",
                    "--subject", "crm")
    issued = run(capsys, "keys", "create", "--tenant", "acme", "--principal",
                 str(principal["id"]), "--name", "prod", "--expires-days", "30")
    secret = issued["api_key"]
    assert secret.startswith("gmgw_")
    listed = run(capsys, "keys", "list", "--tenant", "acme")
    assert [k["prefix"] for k in listed] == [issued["prefix"]]
    assert secret not in json.dumps(listed)
    revoked = run(capsys, "keys", "revoke", "--tenant", "acme", issued["prefix"])
    assert revoked["revoked_at"] is not None
    assert (sqlite_env / "keys" / "api-key-pepper").stat().st_mode & 0o777 == 0o600


def test_cli_errors_are_clear(sqlite_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["principals", "list", "--tenant", "ghost"]) == 1
    assert "tenant_not_found" in capsys.readouterr().err
    assert main(["tenants", "create", "Bad Slug!"]) == 1


def test_serve_refuses_unsafe_production(sqlite_env: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "prod")
    assert main(["serve"]) == 2
    assert "SQLite" in capsys.readouterr().err


def test_domain_commands_are_wired(sqlite_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert run(capsys, "oauth", "purge-states") == {"purged": 0}
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    assert "verify" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["keys", "--help"])
    assert "rotate" in capsys.readouterr().out
