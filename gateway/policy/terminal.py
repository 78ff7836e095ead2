"""The caller's terminal as the operation log records it: client address, protocol, user agent,
device id, request id.

The client address and the protocol are what the connection itself shows (the TCP peer, the
scheme and HTTP version the server received) unless the peer is one of
`GATEWAY_TRUSTED_PROXIES` (default: none). Only then do `Forwarded` (RFC 7239, preferred) or
`X-Forwarded-For` / `X-Forwarded-Proto` name the client: walking the chain from the nearest hop
outwards, the first address that is not itself a trusted proxy is the client. Anything else
sent in those headers is ignored, so a caller cannot choose the address the log shows.

`protocol` is `<scheme>/<version>` as received (`http/1.1`, `https/1.1`, `http/2`); behind a
trusted proxy that says which scheme the client used, `<scheme> via proxy <received>` (`https via
proxy http/1.1`). A channel label follows for the non-API entry points (`https/1.1
oauth-callback`). The server must hand the app the real peer: `gmail-gateway serve` runs uvicorn
with its own forwarded-header handling off (docs/operations.md, "Behind a load balancer").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from fastapi import Request

from gateway.policy.enforcement import Terminal
from gateway.settings import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_SCHEMES = frozenset({"http", "https"})
_NO_NETWORKS: tuple[Network, ...] = ()


def _address(value: str) -> Address | None:
    """An address from a forwarded-header node (`192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`,
    `"[2001:db8::1]:4711"`); None for `unknown`, obfuscated names, and anything malformed."""
    node = value.strip().strip('"')
    if node.startswith("["):
        node = node[1:].partition("]")[0]
    elif node.count(":") == 1:
        node = node.partition(":")[0]
    try:
        return ipaddress.ip_address(node)
    except ValueError:
        return None


def _trusted(address: Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in net for net in networks)


def _forwarded_elements(values: list[str]) -> list[dict[str, str]]:
    """RFC 7239 `Forwarded` header values → one dict of lower-cased parameters per hop."""
    elements: list[dict[str, str]] = []
    for value in values:
        for element in value.split(","):
            params: dict[str, str] = {}
            for pair in element.split(";"):
                name, sep, val = pair.partition("=")
                if sep:
                    params[name.strip().lower()] = val.strip().strip('"')
            elements.append(params)
    return elements


def _hops(request: Request) -> list[tuple[Address | None, str | None]]:
    """The forwarding chain, client side first: (address, scheme said for that hop)."""
    forwarded = request.headers.getlist("forwarded")
    if forwarded:
        return [(_address(e.get("for", "")),
                 e["proto"].lower() if e.get("proto", "").lower() in _SCHEMES else None)
                for e in _forwarded_elements(forwarded)]
    chain = [_address(part) for value in request.headers.getlist("x-forwarded-for")
             for part in value.split(",")]
    protos = [part.strip().lower() for value in request.headers.getlist("x-forwarded-proto")
              for part in value.split(",")]
    proto = protos[-1] if protos and protos[-1] in _SCHEMES else None
    return [(address, proto) for address in chain]


def client_and_scheme(request: Request,
                      trusted: Sequence[Network]) -> tuple[str | None, str | None]:
    """The client address, and the scheme a trusted proxy says the client used (None when the
    request did not come through one)."""
    peer = request.client.host if request.client else None
    if not trusted or not _trusted(_address(peer or ""), trusted):
        return peer, None
    hops = _hops(request)
    if not hops:
        return peer, None
    for address, proto in reversed(hops):
        if address is None:
            return peer, None  # a hop the proxies could not name: keep what is known for sure
        if not _trusted(address, trusted):
            return str(address), proto
    address, proto = hops[0]
    return str(address), proto


def trusted_proxies(request: Request) -> tuple[Network, ...]:
    """The proxies the app's settings trust. Read from `app.state.settings`, set by the app
    factory (the policy layer sits below the runtime and cannot read `runtime_of`); none for
    an app without settings."""
    settings = getattr(request.app.state, "settings", None)
    networks: tuple[Network, ...] = getattr(settings, "trusted_proxy_networks", _NO_NETWORKS)
    return networks


def terminal_of(request: Request, channel: str | None = None) -> Terminal:
    client_ip, said_scheme = client_and_scheme(request, trusted_proxies(request))
    received = f"{request.scope.get('scheme', 'http')}/{request.scope.get('http_version', '1.1')}"
    protocol = received if said_scheme is None else f"{said_scheme} via proxy {received}"
    if channel:
        protocol = f"{protocol} {channel}"
    return Terminal(
        request_id=getattr(request.state, "request_id", "-"),
        protocol=protocol,
        client_ip=client_ip,
        user_agent=request.headers.get("user-agent"),
        device_id=request.headers.get("gateway-device-id"),
    )
