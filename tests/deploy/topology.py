"""The deployment's topology (deploy/compose.yaml) as processes on this host, for
tests/deploy/test_production_shape.py: a fresh database with the deployment's three roles, the
signed policy bundle on a static file server, OPA loading and verifying it (deploy/compose/opa.yaml,
token auth, a Unix socket), the Google emulator, gateway replicas behind a TLS-terminating proxy,
sync workers and the periodic jobs, every gateway process with GATEWAY_ENVIRONMENT=prod.

Every process writes its output to a file under the topology's directory; `Topology.logs()` gives
their tails for a failing assertion."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import make_url

from tests.support.opa_process import free_port

ROOT = Path(__file__).resolve().parents[2]
ROLES_SQL = ROOT / "deploy" / "compose" / "roles.sql"
OPA_CONFIG = ROOT / "deploy" / "compose" / "opa.yaml"
DEPLOYED_ROLES = ("gateway_owner", "gateway_app", "gateway_purge")
KEY_ID = "gateway"  # the key id deploy/compose/opa.yaml names


def role_sql(suffix: str) -> str:
    """deploy/compose/roles.sql with its three role names made unique to this run (roles are
    cluster-wide; the test cluster is shared)."""
    sql = ROLES_SQL.read_text()
    for role in DEPLOYED_ROLES:
        sql = sql.replace(f'"{role}"', f'"{role}_{suffix}"')
    return sql


def run_sql(url: str, sql: str) -> None:
    """A multi-statement script as psql -f would run it (the file carries its own BEGIN/COMMIT)."""
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute(sql.encode())


def psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Topology:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: Mapping[str, str] | None = None
              ) -> Process:
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("ab") as out:
            popen = subprocess.Popen(command, cwd=ROOT, env=dict(env or self.env),
                                     stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT)
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def cli(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """`gmail-gateway <args>` to completion; its stdout (a failure raises with stderr)."""
        done = subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT,
                              env=dict(env or self.env), capture_output=True, text=True,
                              timeout=180, check=False)
        if done.returncode != 0:
            raise AssertionError(f"gmail-gateway {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def cli_json(self, *args: str, env: Mapping[str, str] | None = None) -> Any:
        return json.loads(self.cli(*args, env=env))

    def running(self) -> list[str]:
        return [p.name for p in self.processes if p.popen.poll() is None]

    def exited(self) -> list[str]:
        return [f"{p.name} (exit {p.popen.returncode})" for p in self.processes
                if p.popen.poll() is not None]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (exit {p.popen.poll()}) ---\n{p.tail()}"
                         for p in self.processes)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in reversed(self.processes):
            try:
                process.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=10)


def wait_for(what: str, check: Callable[[], bool], topology: Topology,
             seconds: float = 60.0, every: float = 0.2) -> None:
    """Poll `check` until it holds; on time-out, fail with every process's log tail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(every)
    raise AssertionError(f"{what}: not within {seconds:.0f} s\n{topology.logs()}")


def answers(url: str, *, uds: str | None = None, path: str = "/health",
            verify: Any = True) -> bool:
    transport = httpx.HTTPTransport(uds=uds) if uds else None
    with httpx.Client(transport=transport, verify=verify, timeout=2, trust_env=False) as http:
        return http.get(url + path).status_code == 200


def fresh_secret(prefix: str) -> str:
    """A value prod's placeholder check accepts (long, random, no marker words)."""
    return f"{prefix}-{secrets.token_hex(16)}"


def python_env() -> dict[str, str]:
    """This environment without any GATEWAY_* setting of the test machine's own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GATEWAY_") and k not in {"FORWARDED_ALLOW_IPS",
                                                          "OAUTHLIB_INSECURE_TRANSPORT"}}
    env["PYTHONPATH"] = str(ROOT)
    return env


def opa_command(opa: Path, socket: Path, bundles_url: str, public_key: Path) -> list[str]:
    """deploy/compose.yaml's OPA command, with the bundle server's local URL and fast polling."""
    return [str(opa), "run", "--server", f"--addr=unix://{socket}", "--unix-socket-perm=700",
            "--authentication=token", "--authorization=basic",
            f"--config-file={OPA_CONFIG}",
            f"--set=services.bundles.url={bundles_url}/bundles",
            "--set=bundles.gateway.polling.min_delay_seconds=1",
            "--set=bundles.gateway.polling.max_delay_seconds=2",
            f"--set-file=keys.{KEY_ID}.key={public_key}", f"--set=keys.{KEY_ID}.algorithm=RS256",
            "--skip-version-check", "--log-level=error"]


__all__ = [
    "Topology",
    "answers",
    "free_port",
    "fresh_secret",
    "opa_command",
    "python_env",
    "role_sql",
    "run_sql",
    "wait_for",
]
