"""The admin command line, end to end on a SQLite file (the embedded default)."""

from __future__ import annotations

import json
import subprocess
import sys
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
    run(capsys, "tenants", "create", "globex", "--name", "Globex Inc")
    assert [(t["slug"], t["name"]) for t in run(capsys, "tenants", "list")] == [
        ("acme", "acme"), ("globex", "Globex Inc")]
    principal = run(capsys, "principals", "create", "--tenant", "acme", "--kind", "crm_service",
                    "--subject", "crm", "--display-name", "Acme CRM")
    assert principal["display_name"] == "Acme CRM"
    listed_principals = run(capsys, "principals", "list", "--tenant", "acme")
    assert [(p["subject"], p["display_name"]) for p in listed_principals] == [("crm", "Acme CRM")]
    issued = run(capsys, "api-keys", "create", "--tenant", "acme", "--principal",
                 str(principal["id"]), "--name", "prod", "--expires-days", "30")
    secret = issued["api_key"]
    assert secret.startswith("gmgw_")
    listed = run(capsys, "api-keys", "list", "--tenant", "acme")
    assert [k["prefix"] for k in listed] == [issued["prefix"]]
    assert secret not in json.dumps(listed)
    revoked = run(capsys, "api-keys", "revoke", "--tenant", "acme", issued["prefix"])
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
        main(["kek", "--help"])
    assert "rotate" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["api-keys", "--help"])
    out = capsys.readouterr().out
    assert "revoke" in out and "rotate" not in out


def test_help_lists_every_noun_without_importing_them() -> None:
    probe = ("import sys, contextlib, io\n"
             "from gateway.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
             "    try: main(['--help'])\n"
             "    except SystemExit: pass\n"
             "print(out.getvalue())\n"
             "print(sorted(m for m in ('sqlalchemy', 'pydantic', 'fastapi', 'cryptography')"
             " if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    for noun in ("tenants", "principals", "api-keys", "kek", "audit", "worker", "webhooks"):
        assert f"    {noun}" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_unopenable_sqlite_file_names_the_path_and_the_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    assert main(["tenants", "list"]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "var" / "gateway.db") in err
    assert "GATEWAY_DATABASE_URL=sqlite:///var/gateway.db" in err
    assert f"relative to the current directory {tmp_path}" in err
    assert "Traceback" not in err


def test_database_without_tables_says_to_migrate(sqlite_env: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["principals", "list", "--tenant", "acme"]) == 1
    err = capsys.readouterr().err
    assert "database_unavailable" in err and "gmail-gateway migrate" in err
    assert str(sqlite_env / "gw.db") in err


def test_invalid_setting_is_one_line(sqlite_env: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "staging")
    assert main(["tenants", "list"]) == 2
    assert "GATEWAY_ENVIRONMENT" in capsys.readouterr().err
