"""Which URLs an endpoint may have: the gateway must not become a way into its own network (SSRF).

Production (`GATEWAY_ENVIRONMENT=prod`): `https` only, and every address the host is or
resolves to must be a public unicast address: loopback, private (RFC 1918, fc00::/7), link-local
(169.254/16 — cloud metadata — and fe80::/10), carrier-grade NAT, multicast, reserved and
unspecified addresses are refused. The check runs when the endpoint is registered and again
before every delivery (a name may be re-pointed later); redirects are never followed.

Development and tests: `https` anywhere, and plain `http` only to the local machine
(`localhost`, 127.0.0.0/8, ::1), so a receiver on the developer's machine works.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from gateway.kit.errors import ValidationFailed
from gateway.settings import Environment, Settings

MAX_URL_LENGTH = 2048
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain"})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedTarget(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def _invalid(detail: str, code: str = "webhook_url_invalid") -> ValidationFailed:
    return ValidationFailed(detail, code=code)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    address = _literal(host)
    return host.lower() in LOCAL_NAMES if address is None else address.is_loopback


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not (address.is_multicast or address.is_reserved
                                      or address.is_unspecified)


def resolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise BlockedTarget(f"the host does not resolve ({type(exc).__name__})") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_target(url: str, settings: Settings) -> None:
    """Before each delivery: in production every resolved address must be public."""
    if settings.environment is not Environment.prod:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    for address in resolve(host, parts.port or 443):
        if not is_public(address):
            raise BlockedTarget("the host resolves to a non-public address")


def validate_url(url: str, settings: Settings) -> str:
    """The URL as stored, or a 422 saying what is wrong with it."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise _invalid(f"the URL must be 1 to {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise _invalid("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _invalid("the URL cannot be parsed") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("https", "http") or not host:
        raise _invalid("the URL must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise _invalid("the URL must not carry credentials; the signature authenticates us")
    if parts.fragment:
        raise _invalid("the URL must not have a fragment")
    if port == 0:
        raise _invalid("the URL's port must be 1 to 65535")
    prod = settings.environment is Environment.prod
    if scheme == "http" and (prod or not is_loopback_host(host)):
        raise _invalid("webhooks are sent over https only (plain http is allowed to localhost "
                       "outside production)", code="webhook_url_not_https")
    if prod:
        try:
            check_target(url, settings)
        except BlockedTarget as exc:
            raise _invalid(f"refused: {exc} (loopback, private, link-local and reserved "
                           "addresses are not reachable from webhooks)",
                           code="webhook_url_blocked") from None
    return url
