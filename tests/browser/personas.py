"""Open a persona's pages in a Playwright page as a CRM would send the person there: the
session link is minted over the API (`POST /v1/sessions` with the CRM's key), then the browser
opens it (the cookie is set, the persona's home loads)."""

from __future__ import annotations

from typing import Any

import httpx


def mint_link(gateway_url: str, crm_key: str, principal_id: str,
              ttl_seconds: int | None = None, purpose: str = "user_facing") -> dict[str, Any]:
    """`crm_key`: a CRM service's key (purpose user_facing) or a tenant admin's
    (purpose administration)."""
    body: dict[str, Any] = {"principal_id": principal_id}
    if ttl_seconds is not None:
        body["ttl_seconds"] = ttl_seconds
    response = httpx.post(f"{gateway_url.rstrip('/')}/v1/sessions", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {crm_key}",
                                   "Gateway-Purpose": purpose})
    assert response.status_code == 201, response.text
    link: dict[str, Any] = response.json()
    return link


def open_persona(page: Any, gateway_url: str, crm_key: str, principal_id: str,
                 path: str | None = None, purpose: str = "user_facing") -> dict[str, Any]:
    """Sign `principal_id` in on `page` (its own browser context: its own cookie) and land on
    their home, or on `path` afterwards. Returns the session link's answer (id, persona, ...)."""
    link = mint_link(gateway_url, crm_key, principal_id, purpose=purpose)
    page.goto(link["url"])
    home = {"privacy": "/me", "desk": "/desk", "console": "/console"}[link["persona"]]
    assert page.url == gateway_url.rstrip("/") + home, page.url
    if path is not None:
        page.goto(gateway_url.rstrip("/") + path)
    return link
