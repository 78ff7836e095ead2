"""Operational endpoints: liveness, readiness (database, policy engine, key provider), metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.guard.routing import GuardedRouter
from gateway.runtime import runtime_of

log = logging.getLogger(__name__)
router = GuardedRouter(tags=["operations"])


def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readyz(request: Request) -> JSONResponse:
    runtime = runtime_of(request)
    checks: dict[str, Any] = {}
    for name, probe in (("database", runtime.database.ping),
                        ("policy_engine", runtime.engine.ping),
                        ("key_provider", runtime.crypto.ping)):
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            checks[name] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks,
            "google": runtime.google_mode}
    return JSONResponse(body, status_code=200 if ready else 503)


def metrics(request: Request) -> Response:
    return Response(generate_latest(runtime_of(request).metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)


router.add("GET", "/healthz", healthz, public="liveness probe")
router.add("GET", "/readyz", readyz, public="readiness probe")
router.add("GET", "/metrics", metrics, public="Prometheus scrape", include_in_schema=False)

PUBLIC_PATHS = frozenset({
    "/healthz", "/readyz", "/metrics",
    # A person's browser, no API key: the single-use OAuth state is the credential, and the
    # callback's outcome is still decided and logged by the enforcement point (gateway.oauth).
    "/connect/{token}", "/oauth/callback",
    # Google's Pub/Sub push subscription, no API key: its Google-signed OIDC token (signature,
    # audience, issuer, service account) is verified before anything is read (gateway.push).
    "/v1/push/gmail",
    # A person's browser opening the one-time link their CRM asked for: the link's single-use
    # secret is the credential; the opening is decided and logged (gateway.pages.sessions).
    "/session/{token}",
    # The pages' stylesheet and scripts: files shipped with the gateway, no data.
    "/pages/static/{name}",
})
