"""Soak of the embedded demo: the gateway on its SQLite default (in-process sync worker), the
Google emulator, and a scripted CRM with several API keys listing, reading, searching and
sending, some keys idle for over a minute between calls (the API-key cache expires and the
key's `last_used_at` is written again). Midway one user removes the app's access at Google:
that key's search then meets a dead grant and it deletes its mailbox connection.

Every answer is counted by status; a 5xx is a failure (exit 1).

    PYTHONPATH=. .venv/bin/python bench/sqlite_soak.py                    # 5 minutes, 4 keys
    PYTHONPATH=. .venv/bin/python bench/sqlite_soak.py --seconds 30 --idle 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulator.control import EmulatorControl  # noqa: E402
from emulator.testing import RunningEmulator  # noqa: E402

CLIENT_ID = "soak-gateway.apps.googleusercontent.com"
CLIENT_SECRET = "soak-gateway-client-password"  # registered with the local emulator only
RETURN_URL = "http://127.0.0.1:9/crm/settings"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {seconds:.0f}s")


@dataclass
class Demo:
    base: str
    emulator: str
    env: dict[str, str]
    workdir: Path

    def cli(self, *argv: str) -> Any:
        done = subprocess.run([sys.executable, "-m", "gateway.cli", *argv], env=self.env,
                              cwd=self.workdir, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"gmail-gateway {' '.join(argv)}: {done.stderr.strip()}")
        return json.loads(done.stdout) if done.stdout.strip() else None


@contextmanager
def running_demo(workdir: Path, users: list[str], messages: int) -> Iterator[Demo]:
    """The emulator and the gateway as `scripts/run.sh` runs them: SQLite under `workdir/var`,
    the embedded policy engine, the in-process sync worker."""
    port, emu_port = free_port(), free_port()
    base, emulator = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{emu_port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GATEWAY_ENVIRONMENT": "dev",
           "GATEWAY_DATABASE_URL": "sqlite:///var/gateway.db", "GATEWAY_DATA_DIR": "var",
           "GATEWAY_KEY_FILE": "var/keys/local-kek.json",
           "GATEWAY_POLICY_DIR": str(ROOT / "policies"),
           "GATEWAY_SYNC_IN_PROCESS_WORKER": "true", "GATEWAY_EMULATOR_URL": emulator,
           "GATEWAY_GOOGLE_CLIENT_ID": CLIENT_ID, "GATEWAY_GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
           "GATEWAY_PUBLIC_BASE_URL": base, "GATEWAY_LOG_LEVEL": "WARNING",
           "GATEWAY_CRM_REDIRECT_ALLOWLIST": json.dumps([RETURN_URL])}
    for name in ("GATEWAY_POLICY_ENGINE_URL", "GATEWAY_API_KEY_PEPPER"):
        env.pop(name, None)
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with (logs / "emulator.log").open("wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "emulator.cli", "serve", "--port", str(emu_port),
                 "--no-quota", "--log-level", "warning",
                 "--client", f"{CLIENT_ID}:{CLIENT_SECRET}:{base}/oauth/callback",
                 *[arg for user in users for arg in ("--user", user)]],
                env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT))
        wait_for(f"{emulator}/_emulator/health")
        with EmulatorControl(emulator) as control:
            for number, user in enumerate(users):
                control.seed(user, generate=messages, seed=number + 1)
        demo = Demo(base, emulator, env, workdir)
        demo.cli("migrate")
        with (logs / "gateway.log").open("wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
                env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT))
        wait_for(f"{base}/readyz")
        yield demo
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass
class Key:
    name: str
    google_user: str
    principal_id: str
    secret: str
    mailbox_id: str = ""
    idle: bool = False
    grant_dies: bool = False
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}", "Gateway-Purpose": "user_facing"}


def provision(demo: Demo, users: list[str]) -> list[Key]:
    demo.cli("tenants", "create", "soak", "--name", "Soak Test CRM")
    keys = []
    for number, user in enumerate(users):
        principal = demo.cli("principals", "create", "--tenant", "soak", "--kind", "end_user",
                             "--subject", user, "--display-name", f"Soak user {number}")
        issued = demo.cli("api-keys", "create", "--tenant", "soak",
                          "--principal", principal["id"], "--name", f"soak-{number}")
        keys.append(Key(f"key{number}", user, principal["id"], issued["api_key"]))
    return keys


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "a" and found.get("id"):
            self.by_id[found["id"]] = found.get("href", "")


def connect(demo: Demo, http: httpx.Client, key: Key) -> None:
    """The end user's own consent round trip: gateway page, emulator form, callback."""
    made = http.post(f"{demo.base}/v1/connect", headers=key.headers(),
                     json={"features": ["read", "send"], "return_url": RETURN_URL})
    made.raise_for_status()
    page = http.get(made.json()["consent_url"], headers={"Accept": "text/html"})
    page.raise_for_status()
    links = _Links()
    links.feed(page.text)
    emulator = RunningEmulator(base_url=demo.emulator, state=None, control=None, app=None,
                               server=None)
    callback = emulator.consent(links.by_id["continue"], email=key.google_user)
    landed = http.get(callback)
    if landed.status_code != 302:
        raise RuntimeError(f"callback answered {landed.status_code}: {landed.text[:300]}")
    outcome = {k: v[0] for k, v in parse_qs(urlsplit(landed.headers["location"]).query).items()}
    key.mailbox_id = outcome["mailbox_id"]


def wait_synced(demo: Demo, http: httpx.Client, key: Key, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    url = f"{demo.base}/v1/mailboxes/{key.mailbox_id}/messages?limit=1"
    while time.monotonic() < deadline:
        answer = http.get(url, headers=key.headers())
        if answer.status_code >= 500:
            key.statuses[answer.status_code] += 1
            key.failures.append(f"sync wait: {answer.status_code} {answer.text[:200]}")
        elif answer.status_code == 200 and answer.json()["items"]:
            return
        time.sleep(1)
    raise RuntimeError(f"{key.name}'s mailbox did not sync in {seconds:.0f}s")


def one_round(demo: Demo, http: httpx.Client, key: Key, rnd: random.Random) -> None:
    box = f"{demo.base}/v1/mailboxes/{key.mailbox_id}"

    def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        answer = http.request(method, url, headers={**key.headers(),
                                                    **kwargs.pop("headers", {})}, **kwargs)
        key.seconds.append(time.monotonic() - started)
        key.statuses[answer.status_code] += 1
        if answer.status_code >= 500:
            key.failures.append(f"{method} {url}: {answer.status_code} {answer.text[:200]}")
        return answer

    page = call("GET", f"{box}/messages", params={"limit": 20})
    if page.status_code == 200:
        body = page.json()
        if body.get("next_cursor"):
            call("GET", f"{box}/messages", params={"limit": 20, "cursor": body["next_cursor"]})
        if body["items"]:
            message = rnd.choice(body["items"])
            call("GET", f"{box}/messages/{message['id']}", params={"view": "content"})
    call("POST", f"{box}/search", json={"q": rnd.choice(["newer_than:365d", "has:attachment",
                                                         "is:unread", "subject:invoice"]),
                                        "limit": 10})
    if rnd.random() < 0.3:
        call("POST", f"{box}/messages/send", headers={"Idempotency-Key": str(uuid.uuid4())},
             json={"to": ["customer@example.net"], "subject": f"Soak {rnd.randrange(10**6)}",
                   "text": "Hello from the soak test.\n"})


def drive(demo: Demo, key: Key, until: float, idle: float, control: EmulatorControl) -> None:
    rnd = random.Random(key.name)
    revoke_at = time.monotonic() + (until - time.monotonic()) / 2
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < until:
            if key.grant_dies and time.monotonic() >= revoke_at:
                control.revoke_user(key.google_user)
                one_round(demo, http, key, rnd)  # meets the dead grant
                gone = http.delete(f"{demo.base}/v1/mailboxes/{key.mailbox_id}/connection",
                                   headers=key.headers())
                key.statuses[gone.status_code] += 1
                if gone.status_code >= 300:
                    key.failures.append(f"disconnect: {gone.status_code} {gone.text[:200]}")
                return
            one_round(demo, http, key, rnd)
            pause = idle + rnd.uniform(0, 5) if key.idle else rnd.uniform(0.2, 1.5)
            time.sleep(max(0.0, min(pause, until - time.monotonic())))


def soak(seconds: float, idle: float, keys_count: int, messages: int,
         workdir: Path | None = None) -> dict[str, Any]:
    users = [f"soak{n}@example.com" for n in range(keys_count)]
    with tempfile.TemporaryDirectory(prefix="gateway-soak-") as scratch, \
            running_demo(Path(workdir or scratch), users, messages) as demo, \
            EmulatorControl(demo.emulator) as control:
        keys = provision(demo, users)
        for number, key in enumerate(keys):
            key.idle = number >= keys_count // 2
        keys[-1].grant_dies = keys_count > 1
        with httpx.Client(timeout=60, follow_redirects=False) as http:
            for key in keys:
                connect(demo, http, key)
            for key in keys:
                wait_synced(demo, http, key)
        started = time.monotonic()
        until = started + seconds
        threads = [threading.Thread(target=drive, args=(demo, key, until, idle, control))
                   for key in keys]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total: Counter[int] = Counter()
        for key in keys:
            total.update(key.statuses)
        latencies = sorted(t for key in keys for t in key.seconds)

        def pct(q: float) -> float:
            return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)

        log_lines = (demo.workdir / "logs" / "gateway.log").read_text(errors="replace").splitlines()
        return {
            "seconds": round(time.monotonic() - started, 1), "keys": keys_count,
            "idle_keys": sum(k.idle for k in keys), "idle_seconds": idle,
            "requests": sum(total.values()),
            "status_counts": {str(code): n for code, n in sorted(total.items())},
            "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99),
                           "max": pct(1.0)} if latencies else {},
            "server_errors": sum(n for code, n in total.items() if code >= 500),
            "failures": [f"{k.name}: {f}" for k in keys for f in k.failures][:20],
            "gateway_log_errors": [line[:400] for line in log_lines
                                   if "Error" in line or "error" in line][-15:],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--idle", type=float, default=65.0,
                        help="seconds the idle keys wait between rounds (over a minute)")
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--messages", type=int, default=150, help="seeded per Google user")
    parser.add_argument("--workdir", type=Path,
                        help="keep the database and logs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    report = soak(args.seconds, args.idle, args.keys, args.messages, args.workdir)
    print(json.dumps(report, indent=2))
    return 0 if report["server_errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
