"""`gateway.kit.serving.serve` with several workers: every worker gets connections, and each
has frozen its started heap out of the garbage collector's full collections.

With one listening socket shared by the workers, a burst of connections was usually accepted
by whichever worker woke first (all of them, often); with a socket per worker (SO_REUSEPORT)
the kernel spreads them by a hash: fewer than 8 of 48 connections on one of two workers has a
probability below 1e-6."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.kit.serving import reuse_port_sockets

ROOT = Path(__file__).resolve().parents[2]
SERVE = ("import sys; sys.path.insert(0, 'tests/kit'); from gateway.kit.serving import serve; "
         "serve('serving_pid_app:app', host='127.0.0.1', port=int(sys.argv[1]), workers=2, "
         "log_config=None, access_log=False)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pid_of_one_connection(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1].decode()


async def _burst(port: int, count: int) -> list[str]:
    """`count` connections opened at once, as a client's pool or the read benchmark's clients
    open them, and only then used: which worker answers each."""
    opened = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port)
                                    for _ in range(count)))
    answers = []
    for reader, writer in opened:
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 30)  # a socket nobody serves: fail
        answers.append(data.split(b"\r\n\r\n", 1)[1].decode())
        writer.close()
    return answers


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")
@contextlib.contextmanager
def _two_workers() -> Iterator[tuple[int, set[str], float]]:
    """`serve --workers 2` on a free port, once both workers answered: (port, their
    "pid gc-frozen-count" answers, the deadline for the rest of the test); stopped after."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        pids: set[str] = set()
        while time.monotonic() < deadline and len(pids) < 2:  # both workers up
            try:
                pids.add(_pid_of_one_connection(port))
            except OSError:
                time.sleep(0.2)
        assert len(pids) == 2, "the second worker never answered"
        yield port, pids, deadline
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_connections_reach_both_workers() -> None:
    with _two_workers() as (port, pids, _):
        # Each started worker froze its heap (gc.freeze): full collections skip it.
        assert all(int(answer.split()[1]) > 1000 for answer in pids), pids
        # Workers by pid alone: the frozen count drops when a frozen object is freed later.
        workers = {_pid(answer) for answer in pids}
        answers = [_pid(answer) for answer in asyncio.run(_burst(port, 48))]
        assert sorted(answers.count(pid) for pid in workers)[0] >= 8, answers


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")
def test_a_dead_worker_is_replaced_on_its_socket() -> None:
    """The supervisor replaces a worker that died with one listening on the same socket: the
    connections the kernel hashes to that socket are answered again, by the new worker."""
    import os
    import signal

    with _two_workers() as (port, pids, deadline):
        victim = _pid(sorted(pids)[0])
        os.kill(int(victim), signal.SIGKILL)
        seen: set[str] = set()
        while time.monotonic() < deadline:  # the supervisor checks every 0.5 s
            answers = {_pid(a) for a in asyncio.run(_burst(port, 24))} if _up(port) else set()
            seen |= answers
            if len(answers) == 2 and victim not in answers:
                break
            time.sleep(0.3)
        assert victim not in answers and len(answers) == 2, seen


def _pid(answer: str) -> str:
    """The worker's pid in a "pid gc-frozen-count" answer."""
    return answer.split()[0]


def _up(port: int) -> bool:
    try:
        _pid_of_one_connection(port)
    except OSError:
        return False
    return True


def test_reuse_port_sockets_share_one_port() -> None:
    import uvicorn

    config = uvicorn.Config(lambda: None, host="127.0.0.1", port=_free_port())
    sockets = reuse_port_sockets(config, 2)
    if sockets is None:
        pytest.skip("no SO_REUSEPORT here")
    try:
        assert {s.getsockname() for s in sockets} == {("127.0.0.1", config.port)}
        assert all(s.proto == socket.IPPROTO_TCP for s in sockets)  # TCP_NODELAY on accept
    finally:
        for s in sockets:
            s.close()
    assert reuse_port_sockets(config, 1) is None
