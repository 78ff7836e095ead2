"""A small TLS-terminating reverse proxy for the production-shaped test: what Caddy does in
deploy/compose.yaml, as one process on this host.

    python -m tests.support.tls_proxy --port 8443 --cert server.pem --key server.key \\
        --upstream http://127.0.0.1:8001 --upstream http://127.0.0.1:8002

It serves HTTPS (uvicorn with the given certificate), sends each request to the next upstream in
turn (round robin; an upstream that refuses the connection is skipped for that request), sets
X-Forwarded-For (the TLS client's address) and X-Forwarded-Proto: https, and passes bodies and
headers through unchanged, compressed bodies included. Each answer carries
`X-Test-Proxy-Upstream: <index>`, so a test can see that every replica served.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import uvicorn

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "host", "content-length"}
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Proxy:
    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self._next = itertools.cycle(range(len(upstreams)))
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._client = httpx.AsyncClient(timeout=60, trust_env=False)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._client is not None:
                        await self._client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert scope["type"] == "http" and self._client is not None
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in HOP_BY_HOP
                   and not k.decode("latin-1").lower().startswith("x-forwarded-")]
        client_host = (scope.get("client") or ("unknown", 0))[0]
        headers += [("X-Forwarded-For", client_host), ("X-Forwarded-Proto", "https"),
                    ("Host", dict(headers_of(scope)).get("host", ""))]
        target = scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        for _ in range(len(self.upstreams)):
            index = next(self._next)
            request = self._client.build_request(scope["method"], self.upstreams[index] + target,
                                                 headers=headers, content=body)
            try:
                response = await self._client.send(request, stream=True)
            except httpx.ConnectError:
                continue
            try:
                raw = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
            out = [(k.encode("latin-1"), v.encode("latin-1"))
                   for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]
            out += [(b"content-length", str(len(raw)).encode()),
                    (b"x-test-proxy-upstream", str(index).encode())]
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": out})
            await send({"type": "http.response.body", "body": raw})
            return
        await send({"type": "http.response.start", "status": 502,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"no upstream answered"})


def headers_of(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--upstream", action="append", required=True)
    args = parser.parse_args()
    uvicorn.run(Proxy([u.rstrip("/") for u in args.upstream]), host=args.host, port=args.port,
                ssl_certfile=args.cert, ssl_keyfile=args.key, log_level="warning",
                access_log=False, proxy_headers=False)


if __name__ == "__main__":
    main()
