"""`gmail-gateway kek rotate | list-versions | retire | init-key-file` through the main CLI."""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from gateway.crypto import Binding, CryptoService
from gateway.crypto.cli import add_commands
from gateway.crypto.keyprovider import LocalFileKeyProvider
from gateway.kit.db import make_engine
from gateway.kit.migrate import upgrade


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    key_file = tmp_path / "keys" / "kek.json"
    upgrade(url)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("GATEWAY_KEY_FILE", str(key_file))
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "dev")
    return url, key_file


def run(argv: list[str]) -> int:
    from gateway.cli import main

    return main(argv)


@pytest.mark.clause("pp.encryption")
def test_rotate_list_retire(env: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    url, key_file = env
    engine = make_engine(url)
    sessions = sessionmaker(engine)
    crypto = CryptoService(LocalFileKeyProvider(key_file, production=False))
    tenant = str(uuid.uuid4())
    with sessions() as s, s.begin():
        for _ in range(3):
            crypto.seal(s, Binding(tenant, str(uuid.uuid4()), "t", "c", "r"), b"x")

    assert run(["kek", "list-versions"]) == 0
    assert "1  primary   3" in capsys.readouterr().out
    assert run(["kek", "retire", "1"]) == 1
    assert "primary" in capsys.readouterr().err
    assert run(["kek", "rotate", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "primary KEK version: 2" in out and "data keys re-wrapped: 3" in out
    with sessions() as s:  # the rotation is in the operation log, versions and counts only
        logged = s.execute(text("SELECT operation, action, detail FROM audit_entries")).all()
    assert [(op, action) for op, action, _ in logged] == [("keys:kek:rotated", "keys.rotate")]
    assert json.loads(logged[0][2]) == {"version": 2, "rewrapped": 3, "remaining": 0,
                                        "failed": 0}
    assert run(["kek", "retire", "1"]) == 0
    assert run(["kek", "list-versions"]) == 0
    out = capsys.readouterr().out
    assert "1  retired   0" in out and "2  primary   3" in out
    engine.dispose()


def test_init_key_file_is_accepted_in_prod(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.settings import Environment, Settings

    target = tmp_path / "prod" / "kek.json"
    settings = Settings(environment=Environment.prod, key_file=target)
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["kek", "init-key-file"])
    assert args.handler(args, settings) == 0
    assert args.handler(args, settings) == 1  # never overwrites
    assert "refusing to overwrite" in capsys.readouterr().err
    LocalFileKeyProvider(target, production=True).ping()
