"""`gmail-gateway demo` on a SQLite file: what it provisions, and what it says when the gateway
is not running. The full demo (with the gateway running and a consent) is walked by
tests/docs/test_readme_walkthrough.py."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from gateway.accounts.models import ApiKey, Principal, Tenant
from gateway.cli import main
from gateway.demo import Demo, describe, write_env
from gateway.kit.db import Database


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_without_a_running_gateway_says_how_to_start_it_and_reuses_its_principals(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GATEWAY_PORT", str(_closed_port()))
    assert main(["migrate"]) == 0

    for _ in range(2):
        assert main(["demo"]) == 1
        err = capsys.readouterr().err
        assert "does not answer" in err and "scripts/run.sh" in err
        assert "Traceback" not in err

    db = Database.from_url(url)
    try:
        with db.transaction() as s:
            assert [t.slug for t in s.query(Tenant)] == ["demo"]
            kinds = sorted(p.kind for p in s.query(Principal))
            assert kinds == ["crm_service", "end_user", "operator", "reviewer", "tenant_admin"]
            assert s.query(ApiKey).count() == 6  # three per run: each run's keys are shown once
    finally:
        db.dispose()
    assert not (tmp_path / "demo.env").exists()  # nothing to source without a link


def test_the_env_file_is_private_and_sources_back_to_the_printed_values(tmp_path: Path) -> None:
    demo = Demo(gateway_url="http://127.0.0.1:8000", tenant="demo", end_user_id="u-1",
                operator_id="o-1", reviewer_id="r-1", crm_key="gmgw_crm'key",
                reviewer_key="gmgw_reviewer", admin_key="gmgw_admin", expires_at="soon",
                consent_url="http://127.0.0.1:8000/connect/abc?x=1&y=2", features=["read"],
                env_file=str(tmp_path / "demo.env"))
    write_env(Path(demo.env_file), demo)

    assert Path(demo.env_file).stat().st_mode & 0o777 == 0o600
    echoed = subprocess.run(
        ["bash", "-c", f'source {demo.env_file} && printf "%s\\n" "$GW" "$CRM_KEY" '
                       '"$REVIEWER_KEY" "$ADMIN_KEY" "$END_USER_ID" "$OPERATOR_ID" '
                       '"$REVIEWER_ID" "$CONNECT_URL"'],
        capture_output=True, text=True, check=True).stdout.splitlines()
    assert echoed == [demo.gateway_url, demo.crm_key, demo.reviewer_key, demo.admin_key,
                      demo.end_user_id, demo.operator_id, demo.reviewer_id, demo.consent_url]
    guide = describe(demo)
    assert demo.consent_url in guide and demo.crm_key in guide and demo.reviewer_key in guide
    assert demo.admin_key in guide and demo.operator_id in guide
    assert f"source {demo.env_file}" in guide
