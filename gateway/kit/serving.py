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
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess


class TcpConfig(uvicorn.Config):
    """A uvicorn Config whose bound socket says IPPROTO_TCP, so connections get TCP_NODELAY."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto != socket.IPPROTO_TCP:
            # The same bound, listening descriptor, labelled with its real protocol.
            sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        return sock


WORKER_HEALTHCHECK_SECONDS = 30


def serve(app: str, *, host: str, port: int, workers: int = 1, **kwargs: Any) -> None:
    """`uvicorn.run(app, factory=True, ...)` for an import string, with TcpConfig."""
    kwargs.setdefault("timeout_worker_healthcheck", WORKER_HEALTHCHECK_SECONDS)
    config = TcpConfig(app, factory=True, host=host, port=port, workers=workers, **kwargs)
    server = uvicorn.Server(config)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        server.run()
        if not server.started:
            raise SystemExit(3)  # uvicorn's STARTUP_FAILURE
