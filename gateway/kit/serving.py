"""Run the app under uvicorn with TCP_NODELAY on every connection, for any number of workers.

Why not plain `uvicorn.run`: with `workers > 1` uvicorn binds the listening socket itself as
`socket.socket(family)`, i.e. protocol 0, and asyncio sets TCP_NODELAY only on accepted sockets
whose protocol says TCP. Without it a keep-alive response written in two parts (headers, then
body) waits for the client's delayed ACK, ~40 ms per request: measured here, /healthz p50 1.2 ms
with one worker and 44 ms with two (bench/mail_read_bench.py has the numbers for the mail API).
One worker is not affected (asyncio's create_server takes the protocol from getaddrinfo).

And a longer worker health-check timeout: uvicorn's supervisor pings each worker every 0.5 s
and kills one that does not answer within `timeout_worker_healthcheck` (default 5 s). A new
worker can only answer once it has imported the app, which on a loaded 2-core machine takes
longer than 5 s: measured here under the mail read benchmark at load ~10, workers were killed
and respawned in a loop ("Child process [...] died" every ~6 s), each restart burning seconds
of CPU and dropping the worker's connections. 30 s still replaces a truly hung worker.

And one listening socket per worker (SO_REUSEPORT), where the platform has it: with one shared
socket every idle worker is woken by a new connection and the first to run accepts everything
queued (asyncio accepts up to the backlog per wake-up), so a burst of keep-alive connections (a
client's pool opening, the benchmark's 10 clients) often lands entirely on one worker while the
other idles: measured here, 10 connections split 10/0 in about half the runs, and that worker
then served ~170 req/s at one core while the other core sat idle (bench/mail_read_bench.py,
docs/decisions/0006). With a socket per worker the kernel spreads connections over
the sockets by a hash of their addresses. A worker that dies leaves its socket open in the
supervisor: connections hashed to it wait in its queue until the replacement starts (as with
one worker), they are not refused.

And the heap as it stands once a worker has started (modules, the app, its engines and
clients: ~160,000 tracked objects) is moved out of the garbage collector's reach
(`gc.freeze()` after a full collection): otherwise every full collection scans all of it,
~65 ms of CPU on an idle machine and measured at 0.3-0.65 s of wall time in a worker under the
read benchmark's load, a pause for every request that worker holds. Frozen objects are still
freed by reference counting; only cycles among them would now stay (none are made after the
collection that precedes the freeze, which is what the freeze keeps).
"""

from __future__ import annotations

import gc
import logging
import socket
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from gateway.kit.edge import EdgeProtocol

log = logging.getLogger("uvicorn.error")


class TcpConfig(uvicorn.Config):
    """A uvicorn Config whose bound socket says IPPROTO_TCP, so connections get TCP_NODELAY,
    carrying `max_connections` for `gateway.kit.edge.EdgeProtocol` (None: no limit)."""

    def __init__(self, app: Any, *, max_connections: int | None = None, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.max_connections = max_connections

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto != socket.IPPROTO_TCP:
            # The same bound, listening descriptor, labelled with its real protocol.
            sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        return sock


WORKER_HEALTHCHECK_SECONDS = 30


def freeze_startup_heap() -> None:
    """Collect once, then exclude every object alive now from later collections."""
    gc.collect()
    gc.freeze()


class WorkerServer(uvicorn.Server):
    """uvicorn's Server, freezing the started worker's heap (see the module docstring)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            freeze_startup_heap()


class _Worker(Process):
    """A uvicorn worker process running `WorkerServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = WorkerServer(config=self.config)
        return self._server


def reuse_port_sockets(config: uvicorn.Config, count: int) -> list[socket.socket] | None:
    """`count` listening TCP sockets on the config's host and port, each with SO_REUSEPORT,
    or None where that does not apply (no SO_REUSEPORT, a Unix socket, a file descriptor)."""
    if count < 2 or not hasattr(socket, "SO_REUSEPORT") or config.uds or config.fd is not None:
        return None
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((config.host, config.port))
            sock.listen(config.backlog)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class PerWorkerSockets(Multiprocess):
    """uvicorn's supervisor, giving worker slot i its listening socket `slots[i]` (also to the
    replacement of a worker that died or a restart brings up); the same socket in every slot
    where SO_REUSEPORT does not apply. Workers run `WorkerServer`."""

    def __init__(self, config: uvicorn.Config, slots: list[socket.socket]) -> None:
        super().__init__(config, sockets=slots)
        self.slots = slots

    def _start(self, slot: int) -> Process:
        process = _Worker(self.config, [self.slots[slot]])
        process.start()
        return process

    def init_processes(self) -> None:
        for slot in range(self.processes_num):
            self.processes.append(self._start(slot))

    def restart_all(self) -> None:
        """As uvicorn's: each replacement is ready before the old worker of its slot goes."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(slot)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck,
                                        self.should_exit):
                new.kill()
                new.join()
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def keep_subprocess_alive(self) -> None:
        """As uvicorn's: a hung or dead worker is replaced, on the same socket."""
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # every restart would fail the same way
                log.error("Child process [%s] failed to start, stopping the parent process.",
                          process.pid)
                self.should_exit.set()
            if self.should_exit.is_set():
                return
            log.info("Child process [%s] died", process.pid)
            self.processes[slot] = self._start(slot)


def serve(app: str, *, host: str, port: int, workers: int = 1, **kwargs: Any) -> None:
    """`uvicorn.run(app, factory=True, ...)` for an import string, with TcpConfig.

    uvicorn's own forwarded-header handling is off (`proxy_headers=False`; uvicorn would
    otherwise believe `X-Forwarded-For` from 127.0.0.1): the app sees the real TCP peer and
    trusts forwarded headers only from `GATEWAY_TRUSTED_PROXIES` (gateway/policy/terminal.py)."""
    kwargs.setdefault("timeout_worker_healthcheck", WORKER_HEALTHCHECK_SECONDS)
    kwargs["proxy_headers"] = False
    kwargs.setdefault("http", EdgeProtocol)
    config = TcpConfig(app, factory=True, host=host, port=port, workers=workers, **kwargs)
    server = WorkerServer(config)
    if config.workers > 1:
        slots = reuse_port_sockets(config, config.workers)
        if slots is None:
            slots = [config.bind_socket()] * config.workers
        PerWorkerSockets(config, slots).run()
    else:
        server.run()
        if not server.started:
            raise SystemExit(3)  # uvicorn's STARTUP_FAILURE
