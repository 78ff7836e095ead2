"""The terminal the operation log records cannot be chosen by the caller, through a gateway
served as shipped (`gateway.cli serve`, uvicorn's defaults as the CLI sets them) on PostgreSQL:

- with no `GATEWAY_TRUSTED_PROXIES` (the default), `X-Forwarded-For`, `Forwarded` and
  `X-Forwarded-Proto` from 127.0.0.1 are ignored: the TCP peer is the client and the protocol is
  what the server received (`http/1.1`);
- with the loopback network trusted (a load balancer on the same host), the client is the first
  untrusted address of the chain, and the scheme the proxy states is recorded as such.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.kit.db import Database
from tests.fuzz.world import truncate_all
from tests.support.served import (
    Served,
    World,
    blackbox_settings,
    build_world,
    entries_for,
    headers_of,
    request_id,
    serve_gateway,
)

pytestmark = [pytest.mark.postgres, pytest.mark.opa]


@pytest.fixture(scope="module")
def world(database_url: str, opa_url: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[World, Served, Served]]:
    settings = blackbox_settings(database_url, tmp_path_factory.mktemp("terminal"), opa_url)
    db = Database.from_url(database_url)
    try:
        built = build_world(db, settings, "term")
        with serve_gateway(settings) as plain, serve_gateway(
                settings, {"GATEWAY_TRUSTED_PROXIES": "127.0.0.0/8, 10.0.0.0/8"}) as behind:
            yield built, plain, behind
    finally:
        truncate_all(db)
        db.dispose()


def _logged(server: Served, world: World, **headers: str) -> tuple[str | None, str]:
    lines = headers_of(world.a.crm.key, **headers)
    status, _, body = server.request("GET", "/v1/mailboxes", lines)
    assert status == 200, body
    (entry,) = entries_for(world.db, request_id(lines))
    return entry.client_ip, entry.protocol


SPOOFS = [
    {"X_Forwarded_For": "203.0.113.9"},
    {"X_Forwarded_For": "203.0.113.9", "X_Forwarded_Proto": "https"},
    {"Forwarded": 'for="[2001:db8::7]:4711";proto=https'},
    {"Forwarded": "for=198.51.100.7", "X_Forwarded_For": "203.0.113.9"},
]


@pytest.mark.parametrize("spoof", SPOOFS, ids=lambda s: "+".join(sorted(s)))
def test_forwarded_headers_are_ignored_by_default(
        world: tuple[World, Served, Served], spoof: dict[str, str]) -> None:
    built, plain, _ = world
    assert _logged(plain, built, **spoof) == ("127.0.0.1", "http/1.1")


def test_a_trusted_proxy_names_the_client_and_the_scheme(
        world: tuple[World, Served, Served]) -> None:
    built, _, behind = world
    assert _logged(behind, built) == ("127.0.0.1", "http/1.1")
    # The first address that is not a trusted proxy, from the nearest hop outwards: what the
    # client put at the left of the chain itself does not count.
    assert _logged(behind, built, X_Forwarded_For="192.0.2.1, 203.0.113.9, 10.1.2.3") == (
        "203.0.113.9", "http/1.1")
    assert _logged(behind, built, X_Forwarded_For="203.0.113.9",
                   X_Forwarded_Proto="https") == ("203.0.113.9", "https via proxy http/1.1")
    # RFC 7239 `Forwarded` is preferred over the X- headers.
    assert _logged(behind, built, Forwarded='for="[2001:db8::7]:4711";proto=https',
                   X_Forwarded_For="203.0.113.9") == ("2001:db8::7",
                                                       "https via proxy http/1.1")
    # A chain the proxies could not name (`unknown`, garbage): the peer is what is known.
    assert _logged(behind, built, X_Forwarded_For="not-an-address") == (
        "127.0.0.1", "http/1.1")
