"""The per-process API-key cache (gateway/accounts/key_cache.py): what it may serve from memory,
for how long, and what always goes to the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.accounts import service
from gateway.accounts.key_cache import ApiKeyCache
from gateway.accounts.keys import hash_api_key
from gateway.accounts.models import ApiKey, Principal
from gateway.kit.db import Database
from gateway.runtime import runtime_of
from tests.accounts.test_authentication import revoke_crm_key
from tests.support.world import TEST_PEPPER, TenantWorld


def _cache(client: TestClient) -> ApiKeyCache:
    cache = runtime_of(client.app).service(ApiKeyCache)
    assert isinstance(cache, ApiKeyCache)
    return cache


def _hash(key: str) -> bytes:
    return hash_api_key(TEST_PEPPER.encode(), key)


def test_a_key_is_checked_once_then_served_from_the_cache(client: TestClient, db: Database,
                                                          tenant_a: TenantWorld) -> None:
    headers = tenant_a.crm.headers()
    assert client.get("/v1/mailboxes", headers=headers).status_code == 200
    entry = _cache(client).get(_hash(tenant_a.crm.key))
    assert entry is not None
    assert entry.caller.principal_id == tenant_a.crm.principal.id
    assert entry.caller.tenant_id == tenant_a.tenant.id
    with db.transaction() as s:   # the first use was recorded, in the request's transaction
        key = s.scalar(select(ApiKey).where(ApiKey.principal_id == tenant_a.crm.principal.id))
        assert key is not None and key.last_used_at is not None


def test_revocation_by_another_process_applies_within_the_ttl(client: TestClient, db: Database,
                                                              tenant_a: TenantWorld) -> None:
    headers = tenant_a.crm.headers()
    assert client.get("/v1/mailboxes", headers=headers).status_code == 200
    with db.transaction() as s:   # as the CLI in another process would: no eviction here
        s.execute(update(ApiKey).where(ApiKey.principal_id == tenant_a.crm.principal.id)
                  .values(revoked_at=datetime.now(UTC)))
    # Within the bound the cached check stands (this is the documented staleness) ...
    assert client.get("/v1/mailboxes", headers=headers).status_code == 200
    # ... and once the entry is older than the TTL the database decides again.
    entry = _cache(client).get(_hash(tenant_a.crm.key))
    assert entry is not None
    entry.loaded -= _cache(client).ttl
    response = client.get("/v1/mailboxes", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_revoked"
    assert _cache(client).get(_hash(tenant_a.crm.key)) is None  # refusals are never cached


# A request served while the revocation's transaction is still open: on SQLite its log write
# would wait for that transaction (one writer), so the race exists on PostgreSQL only.
@pytest.mark.postgres_only
def test_revocation_in_this_process_applies_at_once(client: TestClient, db: Database,
                                                    tenant_a: TenantWorld) -> None:
    headers = tenant_a.crm.headers()
    assert client.get("/v1/mailboxes", headers=headers).status_code == 200
    with db.transaction() as s:
        revoke_crm_key(s, tenant_a)
        assert _cache(client).get(_hash(tenant_a.crm.key)) is None
        # a request racing the revocation's commit reads the old row and caches it again ...
        assert client.get("/v1/mailboxes", headers=headers).status_code == 200
    # ... and the commit evicts it once more.
    assert _cache(client).get(_hash(tenant_a.crm.key)) is None
    assert client.get("/v1/mailboxes", headers=headers).status_code == 401


def test_a_cached_key_is_refused_at_its_expiry(client: TestClient, db: Database,
                                               tenant_a: TenantWorld) -> None:
    with db.transaction() as s:
        principal = s.get(Principal, tenant_a.crm.principal.id)
        assert principal is not None
        issued = service.create_api_key(s, TEST_PEPPER.encode(), principal,
                                        expires_at=datetime.now(UTC) + timedelta(hours=1))
    headers = {"Authorization": f"Bearer {issued.secret}", "Gateway-Purpose": "user_facing"}
    assert client.get("/v1/mailboxes", headers=headers).status_code == 200
    entry = _cache(client).get(_hash(issued.secret))
    assert entry is not None and entry.expires_at is not None
    entry.expires_at = datetime.now(UTC) - timedelta(seconds=1)  # the clock passed the expiry
    response = client.get("/v1/mailboxes", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_expired"


def test_last_used_is_written_at_most_once_a_minute(client: TestClient, db: Database,
                                                    tenant_a: TenantWorld) -> None:
    headers = tenant_a.crm.headers()
    assert client.get("/v1/mailboxes", headers=headers).status_code == 200
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    entry = _cache(client).get(_hash(tenant_a.crm.key))
    assert entry is not None
    entry.last_used_at = long_ago
    with db.transaction() as s:
        s.execute(update(ApiKey).where(ApiKey.principal_id == tenant_a.crm.principal.id)
                  .values(last_used_at=long_ago))
    assert client.get("/v1/mailboxes", headers=headers).status_code == 200
    with db.transaction() as s:
        key = s.scalar(select(ApiKey).where(ApiKey.principal_id == tenant_a.crm.principal.id))
        assert key is not None and key.last_used_at is not None
        assert key.last_used_at.replace(tzinfo=UTC) > long_ago + timedelta(minutes=4)


def test_unknown_keys_are_never_cached(client: TestClient, tenant_a: TenantWorld) -> None:
    forged = "gmgw_" + "B" * 43
    for _ in range(2):
        response = client.get("/v1/mailboxes", headers={"Authorization": f"Bearer {forged}",
                                                        "Gateway-Purpose": "user_facing"})
        assert response.status_code == 401
    assert _cache(client).get(_hash(forged)) is None


def test_a_zero_ttl_turns_the_cache_off() -> None:
    cache = ApiKeyCache(ttl=0)
    assert not cache.enabled
