"""Run the emulator inside a test process.

    from emulator.testing import run_emulator

    with run_emulator() as emu:          # uvicorn on 127.0.0.1, a free port, own thread
        emu.base_url                      # "http://127.0.0.1:54321"
        emu.state                         # the live EmulatorState
        emu.control                       # an EmulatorControl for /_emulator
        emu.client_config()               # {"web": {...}} for Flow.from_client_config
        emu.gmail(credentials)            # a googleapiclient Gmail resource on the emulator
        emu.consent(auth_url, untick=[...])  # fill the consent page like a user

``run_emulator(port=0, keep_alive=5.0, **opts)`` passes ``opts`` to
:func:`emulator.app.create_app` (``push_url``, ``push_audience``, ``settings``, ``state``);
``keep_alive`` is how many seconds an idle kept-alive connection stays open before the
emulator closes it (uvicorn's ``timeout_keep_alive``; Google's front ends close idle
connections too, and a client must cope with a pooled connection closed under it)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx
import uvicorn

from .app import create_app
from .control import EmulatorControl
from .state import DEFAULT_CLIENT, EmulatorState

DEFAULT_KEEP_ALIVE_SECONDS = 5.0  # uvicorn's default


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: list[tuple[str, str, str, bool]] = []  # (type, name, value, checked)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input":
            self.fields.append((a.get("type", "text"), a.get("name", ""), a.get("value", ""),
                                "checked" in a))


@dataclass
class RunningEmulator:
    base_url: str
    state: EmulatorState
    control: EmulatorControl
    app: Any
    server: uvicorn.Server

    @property
    def auth_uri(self) -> str:
        return f"{self.base_url}/o/oauth2/auth"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    @property
    def revoke_uri(self) -> str:
        return f"{self.base_url}/revoke"

    @property
    def certs_uri(self) -> str:
        return f"{self.base_url}/oauth2/v3/certs"

    @property
    def certs_pem_uri(self) -> str:
        """Google's v1 format (PEM certificates); what google-auth verifies without PyJWT."""
        return f"{self.base_url}/oauth2/v1/certs"

    @property
    def batch_uri(self) -> str:
        return f"{self.base_url}/batch/gmail/v1"

    def client_config(self, client_id: str = DEFAULT_CLIENT.client_id) -> dict[str, Any]:
        """The ``{"web": {...}}`` dict google-auth-oauthlib's Flow expects."""
        client = self.state.clients[client_id]
        return {"web": {
            "client_id": client.client_id, "client_secret": client.client_secret,
            "auth_uri": self.auth_uri, "token_uri": self.token_uri,
            "redirect_uris": list(client.redirect_uris),
        }}

    def gmail(self, credentials: Any) -> Any:
        """A googleapiclient Gmail v1 resource pointed at the emulator (static discovery)."""
        from googleapiclient.discovery import build
        return build("gmail", "v1", credentials=credentials, static_discovery=True,
                     cache_discovery=False, client_options={"api_endpoint": self.base_url})

    def new_batch(self, callback: Any = None) -> Any:
        """A BatchHttpRequest aimed at the emulator (``service.new_batch_http_request()``
        would use the discovery document's rootUrl, i.e. Google)."""
        from googleapiclient.http import BatchHttpRequest
        return BatchHttpRequest(callback=callback, batch_uri=self.batch_uri)

    def consent(self, auth_url: str, *, email: str | None = None,
                untick: list[str] | tuple[str, ...] = (), deny: bool = False) -> str:
        """Act as the user on the consent page; returns the redirect URL (code or error)."""
        with httpx.Client(follow_redirects=False, timeout=10) as http:
            page = http.get(auth_url)
            if page.status_code != 200:
                raise RuntimeError(f"consent page answered {page.status_code}: {page.text}")
            parser = _FormParser()
            parser.feed(page.text)
            form: list[tuple[str, str]] = []
            for kind, name, value, checked in parser.fields:
                if kind == "checkbox":
                    if checked and value not in untick:
                        form.append((name, value))
                elif name == "email" and email:
                    form.append((name, email))
                elif name:
                    form.append((name, value))
            form.append(("action", "deny" if deny else "approve"))
            resp = http.post(urljoin(self.base_url + "/", parser.action.lstrip("/")),
                             content=urlencode(form).encode(),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
            if resp.status_code != 302:
                raise RuntimeError(f"consent answered {resp.status_code}: {resp.text}")
            return resp.headers["location"]


def _free_socket(host: str, port: int) -> socket.socket:
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets that do, and
    # without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


@contextmanager
def run_emulator(port: int = 0, host: str = "127.0.0.1", *,
                 keep_alive: float = DEFAULT_KEEP_ALIVE_SECONDS, **opts: Any
                 ) -> Iterator[RunningEmulator]:
    """Start the emulator on ``host`` (a free port unless ``port`` is given) in a background
    thread; stop it on exit."""
    sock = _free_socket(host, port)
    base_url = f"http://{host}:{sock.getsockname()[1]}"
    state = opts.pop("state", None) or EmulatorState()
    app = create_app(state, base_url=base_url, **opts)
    # uvicorn annotates the keep-alive as int but uses it as a timer delay: fractions work.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_keep_alive=keep_alive)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="gmail-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the emulator did not start")
        time.sleep(0.01)
    control = EmulatorControl(base_url)
    try:
        yield RunningEmulator(base_url, state, control, app, server)
    finally:
        control.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
