"""The demo as a newcomer runs it, for the docs and browser tests: a fresh copy of the
repository (no var/, so a new SQLite file, key file and pepper) whose `scripts/run.sh` starts
the gateway and the seeded emulator on free ports, and a person who clicks through the consent
over plain HTTP.

The copy shares this suite's virtualenv (`GATEWAY_SKIP_INSTALL=1`: reinstalling the package
under a running suite would be wrong) and imports the copy's code (`PYTHONPATH`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx

REPO = Path(__file__).resolve().parents[1]
_NOT_COPIED = shutil.ignore_patterns(".git", ".venv", ".tools", "var", "artifacts", "__pycache__",
                                     ".mypy_cache", ".ruff_cache", ".pytest_cache", "*.egg-info")
START_TIMEOUT_SECONDS = 240.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_clone(into: Path) -> Path:
    """The repository's files as a clone has them, with this suite's virtualenv."""
    root = into / "gateway-clone"
    shutil.copytree(REPO, root, ignore=_NOT_COPIED, symlinks=True)
    (root / ".venv").symlink_to(Path(sys.prefix))
    return root


def demo_env(root: Path) -> dict[str, str]:
    """A newcomer's environment: no GATEWAY_ settings but the two ports, on free ones."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GATEWAY_", "OAUTHLIB_", "PYTEST_"))}
    env.update(PYTHONPATH=str(root), GATEWAY_SKIP_INSTALL="1",
               GATEWAY_PORT=str(free_port()), GATEWAY_EMULATOR_PORT=str(free_port()))
    return env


@dataclass
class Demo:
    root: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_EMULATOR_PORT']}"

    @property
    def log(self) -> str:
        return (self.root / "var" / "run.log").read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"scripts/run.sh exited {self.process.returncode}:\n"
                                     + self.log)
            try:
                if httpx.get(self.gateway_url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError("the demo did not become ready:\n" + self.log)

    def stop(self) -> None:
        """Stop run.sh and everything it started, and wait until all of them are gone (a
        gateway still shutting down would answer the next run's readiness check)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        deadline = time.monotonic() + 30
        while _group_alive(self.process.pid):
            if time.monotonic() > deadline:
                os.killpg(self.process.pid, signal.SIGKILL)
            time.sleep(0.2)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def start_run_sh(root: Path, env: dict[str, str], command: str = "scripts/run.sh") -> Demo:
    (root / "var").mkdir(exist_ok=True)
    log = (root / "var" / "run.log").open("wb")
    process = subprocess.Popen(["bash", "-c", command], cwd=root, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    return Demo(root=root, env=env, process=process)


@contextmanager
def running_demo(into: Path) -> Iterator[Demo]:
    root = fresh_clone(into)
    demo = start_run_sh(root, demo_env(root))
    try:
        demo.wait_ready()
        yield demo
    finally:
        demo.stop()


# -- a person at the browser, over plain HTTP --------------------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self.form_action = ""
        self.inputs: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("id"):
            self.links[a["id"]] = a.get("href", "")
        elif tag == "form":
            self.form_action = a.get("action", "")
        elif tag == "input":
            self.inputs.append(a)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def consent_over_http(consent_url: str, *, untick: tuple[str, ...] = (),
                      deny: bool = False) -> str:
    """Read the gateway's page, press Continue, answer Google's (the emulator's) form, follow
    the callback: the HTML of the gateway's result page."""
    result = consent_answer(consent_url, untick=untick, deny=deny)
    assert result.status_code == 200, result.text
    return result.text


def consent_answer(consent_url: str, *, untick: tuple[str, ...] = (),
                   deny: bool = False) -> httpx.Response:
    """As consent_over_http, up to the gateway's answer to the callback (not followed)."""
    with httpx.Client(follow_redirects=False, timeout=60,
                      headers={"Accept": "text/html"}) as http:
        page = http.get(consent_url)
        assert page.status_code == 200, page.text
        google_url = parse(page.text).links["continue"]
        google = http.get(google_url)
        assert google.status_code == 200, google.text
        form = parse(google.text)
        fields = [(i.get("name", ""), i.get("value", "")) for i in form.inputs
                  if i.get("name") and (i.get("type") != "checkbox"
                                        or ("checked" in i and i.get("value") not in untick))]
        fields.append(("action", "deny" if deny else "approve"))
        answer = http.post(urljoin(google_url, form.form_action), content=urlencode(fields),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 302, answer.text
        return http.get(answer.headers["location"])


def demo_cli(demo: Demo, *args: str) -> Any:
    """`gmail-gateway ARGS` in the demo's directory (its settings and database): the JSON it
    prints."""
    done = subprocess.run([str(demo.root / ".venv" / "bin" / "gmail-gateway"), *args],
                          cwd=demo.root, env=demo.env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def gmail_gateway_demo(demo: Demo, *extra: str) -> dict[str, str]:
    """`gmail-gateway demo --json` in the demo's directory: a fresh consent link and keys."""
    made: dict[str, str] = demo_cli(demo, "demo", "--json", *extra)
    return made


def synced_demo_mailbox(demo: Demo, made: dict[str, str], limit: int
                        ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The demo user's mailbox (connected through the emulator's consent and synced here if no
    test did it before) and its newest `limit` messages, read with the CRM's key."""
    crm = {"Authorization": f"Bearer {made['crm_key']}", "Gateway-Purpose": "user_facing"}
    with httpx.Client(base_url=demo.gateway_url, headers=crm, timeout=30) as api:
        if not api.get("/v1/mailboxes").raise_for_status().json()["items"]:
            consent_over_http(made["consent_url"])
        wait_until_synced(demo, made["crm_key"])
        [mailbox] = api.get("/v1/mailboxes").raise_for_status().json()["items"]
        messages = api.get(f"/v1/mailboxes/{mailbox['id']}/messages",
                           params={"limit": limit}).raise_for_status().json()["items"]
    return mailbox, messages


def wait_until_synced(demo: Demo, crm_key: str, timeout: float = 180.0) -> dict[str, object]:
    """The demo user's mailbox once its full sync is done (phase incremental)."""
    headers = {"Authorization": f"Bearer {crm_key}", "Gateway-Purpose": "user_facing"}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=demo.gateway_url, headers=headers, timeout=30) as api:
        [mailbox] = api.get("/v1/mailboxes").raise_for_status().json()["items"]
        while time.monotonic() < deadline:
            sync: dict[str, object] = api.get(f"/v1/mailboxes/{mailbox['id']}/sync"
                                              ).raise_for_status().json()
            if sync["phase"] == "incremental":
                return sync
            time.sleep(1)
    raise AssertionError(f"the demo mailbox did not sync within {timeout} s: {sync}")
