"""README.md's "Connect a mailbox and read it", executed: every fenced bash block of the section,
in order, in one bash session (so variables carry over, as in the reader's terminal), against a
fresh copy of the repository.

Markers in the README (HTML comments, invisible when rendered) say what a person does besides
typing: `<!-- docs-test: server -->` before the block that runs in the first terminal (started
in the background here, then waited for), and `<!-- docs-test: consent -->` where the reader
opens `$CONNECT_URL` in a browser (done here over HTTP, as tests/browser does with Chromium).
"""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.demo_world import REPO, Demo, consent_over_http, demo_env, fresh_clone, start_run_sh

SECTION = "## Connect a mailbox and read it"
BLOCK_TIMEOUT_SECONDS = 300.0
_STEP = re.compile(r"<!-- docs-test: (\w+) -->|```bash\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Step:
    kind: str  # "shell" | "server" | "consent"
    script: str = ""


def walkthrough_steps(readme: str) -> list[Step]:
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    section = readme[start:end if end != -1 else len(readme)]
    steps: list[Step] = []
    server_next = False
    for match in _STEP.finditer(section):
        marker, script = match.group(1), match.group(2)
        if marker == "server":
            server_next = True
        elif marker is not None:
            steps.append(Step(marker))
        else:
            steps.append(Step("server" if server_next else "shell", script))
            server_next = False
    return steps


class Shell:
    """One bash reading commands from a pipe, like a terminal the reader types into."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"], cwd=cwd, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.transcript: list[str] = []
        self.run("set -euo pipefail")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def run(self, script: str) -> str:
        assert self.process.stdin is not None
        done = f"__block_done_{uuid.uuid4().hex}__"
        self.process.stdin.write(f"{script}\necho {done}\n")
        self.process.stdin.flush()
        out: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=BLOCK_TIMEOUT_SECONDS)
            except queue.Empty:
                raise AssertionError("a README block did not finish:\n" + script
                                     + "\n--- output ---\n" + "".join(out)) from None
            if line is None:
                raise AssertionError(f"a README block failed (exit {self.process.wait()}):\n"
                                     + script + "\n--- output ---\n" + "".join(out))
            if line.strip() == done:
                break
            out.append(line)
        self.transcript.append("".join(out))
        return "".join(out)

    def value(self, name: str) -> str:
        return self.run(f'printf "%s\\n" "${name}"').strip()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_the_walkthrough_steps_are_where_the_test_expects_them() -> None:
    kinds = [s.kind for s in walkthrough_steps((REPO / "README.md").read_text())]
    assert kinds[0] == "server" and kinds.count("server") == 1
    assert kinds.count("consent") == 1 and kinds.index("consent") > 1
    assert kinds.count("shell") >= 4


def walk(root: Path, env: dict[str, str]) -> tuple[str, list[str]]:
    """Every step of the section, as a reader does them: the transcript of the second
    terminal and how long each step took."""
    shell = Shell(root, env)
    demo: Demo | None = None
    timings: list[str] = []
    try:
        for step in walkthrough_steps((root / "README.md").read_text()):
            started = time.monotonic()
            if step.kind == "server":
                demo = start_run_sh(root, env, step.script)
                demo.wait_ready()
            elif step.kind == "consent":
                result = consent_over_http(shell.value("CONNECT_URL"))
                assert 'data-status="connected"' in result
            else:
                shell.run(step.script)
            first_line = step.script.strip().splitlines()[0] if step.script.strip() else ""
            timings.append(f"{time.monotonic() - started:7.1f} s  {step.kind:8s} {first_line}")
        return "\n".join(shell.transcript), timings
    finally:
        shell.close()
        if demo is not None:
            demo.stop()


def assert_reader_sees_it_work(out: str, stored: str) -> None:
    assert "Open this link in a browser" in out
    assert '"phase": "incremental"' in out and f'"messages_stored": {stored}' in out
    assert '"text":' in out  # a message read in full
    assert '"matched":' in out  # a search
    assert '"mail.message.send"' in out  # the send, as the reviewer finds it in the log
    assert re.search(r'"ok": true', out)  # the log's hash chains verify


@pytest.mark.demo
def test_readme_walkthrough_reaches_a_synced_mailbox_reads_searches_sends_and_reviews(
        tmp_path: Path) -> None:
    root = fresh_clone(tmp_path)
    env = demo_env(root)

    out, timings = walk(root, env)
    print("README walkthrough, seconds per step:", *timings, sep="\n")  # shown with -s
    assert_reader_sees_it_work(out, "300")

    # Again in the same directory (run.sh is idempotent; the emulator starts afresh, so the
    # mailbox's old grant is dead until the new consent): the send of the first round is
    # now in the mailbox too.
    out, timings = walk(root, env)
    print("Again, seconds per step:", *timings, sep="\n")
    assert_reader_sees_it_work(out, "301")
