"""The scheduler's operations port (`GATEWAY_SCHEDULER_METRICS_PORT`): `/metrics` for
Prometheus, `/status` (every job's state as JSON) and `/healthz`. It is served by the scheduler
process only, never through the gateway's public API: it reports on the whole deployment, not on
a tenant, so it belongs on the internal network beside the other scrape targets
(docs/deploy.md, "The scheduler").
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway.scheduler.leases import JobState

log = logging.getLogger(__name__)


def status_document(states: list[JobState], owner: str) -> dict[str, Any]:
    return {"scheduler": owner, "jobs": [state.as_dict() for state in states]}


def serve_ops(port: int, registry: CollectorRegistry, read: Callable[[], list[JobState]],
              owner: str, host: str = "0.0.0.0") -> ThreadingHTTPServer:  # noqa: S104
    """Start the operations port on a daemon thread; `shutdown()` the server to stop it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path == "/status":
                try:
                    body, status = status_document(read(), owner), 200
                except Exception:  # noqa: BLE001 - the page says the table is unreadable
                    log.warning("scheduler status: the job table could not be read")
                    body, status = {"scheduler": owner, "error": "job_table_unavailable"}, 503
                self._send(status, json.dumps(body).encode(), "application/json")
            elif self.path == "/healthz":
                self._send(200, b'{"status":"ok"}', "application/json")
            else:
                self._send(404, b'{"status":404,"title":"Not Found"}',
                           "application/problem+json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # scrapes are not worth a log line each

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="scheduler-ops", daemon=True).start()
    return server
