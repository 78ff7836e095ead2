"""The app factory. Engines, clients and keys are built in the lifespan, nothing at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from gateway.accounts.key_cache import ApiKeyCache
from gateway.analytics.router import router as analytics_router
from gateway.audit_api.router import router as audit_router
from gateway.compliance.router import router as compliance_router
from gateway.consent.router import router as consent_router
from gateway.consent.service import applicable_grant
from gateway.guard.openapi import document_contract
from gateway.guard.routing import GuardedRouter, assert_all_routes_guarded
from gateway.justifications.lookup import justification_for
from gateway.justifications.router import router as justifications_router
from gateway.kit.api_docs import install_api_docs
from gateway.kit.edge import BodyLimit, BodyReadTimeout, body_limit_for
from gateway.kit.logs import configure_logging
from gateway.kit.observability import Metrics, ObservabilityMiddleware
from gateway.kit.problem import install_problem_handlers
from gateway.mail.router import router as mail_router
from gateway.mail.store.labels import LabelStore
from gateway.mail.store.repository import MessageStore
from gateway.mail.write.idempotency import IdempotencyKeys
from gateway.mailboxes.resolvers import HumanAccessLookups
from gateway.mailboxes.router import router as mailboxes_router
from gateway.oauth.flow import GoogleOAuth, derive_pkce_key
from gateway.oauth.problems import install_problem_handlers as install_oauth_problems
from gateway.oauth.router import router as oauth_router
from gateway.ops import PUBLIC_PATHS
from gateway.ops import router as ops_router
from gateway.pages import PAGE_ROUTERS
from gateway.pages.security import PageHeaders, install_page_errors
from gateway.policy.contract import PolicyEngine
from gateway.policy.purposes import purposes_by_action
from gateway.provisioning.router import router as accounts_router
from gateway.push.lookup import WatchLookup
from gateway.push.oidc import PushTokenVerifier
from gateway.push.router import router as push_router
from gateway.runtime import Runtime, build_runtime, install_runtime
from gateway.sessions.router import router as sessions_router
from gateway.settings import Settings
from gateway.sync.router import router as sync_router
from gateway.webhooks.router import router as webhooks_router

log = logging.getLogger(__name__)

ROUTERS: tuple[GuardedRouter, ...] = (ops_router, mailboxes_router, mail_router, consent_router,
                                      justifications_router, analytics_router, audit_router,
                                      compliance_router, oauth_router, push_router, sync_router,
                                      webhooks_router, sessions_router, accounts_router,
                                      *PAGE_ROUTERS)


def app_services(runtime: Runtime) -> list[object]:
    """The domains' shared services of the API, built with its runtime."""
    settings = runtime.settings
    return [MessageStore(runtime.crypto), LabelStore(runtime.crypto),
            IdempotencyKeys(runtime.database, runtime.crypto,
                            ttl=timedelta(hours=settings.mail_idempotency_ttl_hours)),
            ApiKeyCache(ttl=float(settings.api_key_cache_seconds)),
            GoogleOAuth(settings, derive_pkce_key(runtime.api_key_pepper)),
            PushTokenVerifier(settings), WatchLookup(runtime.crypto),
            HumanAccessLookups(grant=applicable_grant, justification=justification_for)]


def create_app(settings: Settings | None = None, *,
               engine: PolicyEngine | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.check_safe()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with build_runtime(settings, engine=engine, metrics=metrics,
                           domain_services=app_services) as runtime:
            install_runtime(app, runtime)
            if runtime.google_mode == "not_configured":
                log.warning("Google is not configured: set GATEWAY_GOOGLE_CLIENT_ID/SECRET, or "
                            "GATEWAY_EMULATOR_URL for the local emulator")
            log.info("gateway started", extra={"route": f"google={runtime.google_mode}"})
            sync_worker = scheduler = None
            if settings.sync_in_process_worker:
                from gateway.scheduler.runner import start_in_process_scheduler
                from gateway.sync.worker import start_in_process_worker

                sync_worker = start_in_process_worker(runtime, registry=metrics.registry)
                scheduler = start_in_process_scheduler(sync_worker.worker.services,
                                                       registry=metrics.registry)
            try:
                yield
            finally:
                for background in (scheduler, sync_worker):
                    if background is not None:
                        background.stop()

    app = FastAPI(title="Gmail integration gateway", version="0.1.0", lifespan=lifespan,
                  description="Gmail for your CRM, with Google's Limited Use rules enforced "
                              "on every access, encrypted at rest and audited.",
                  docs_url=None, redoc_url=None)  # served offline: install_api_docs
    install_api_docs(app)
    metrics = Metrics()
    app.state.settings = settings  # for gateway/policy/terminal.py, below the runtime layer
    install_problem_handlers(app)
    install_oauth_problems(app)
    install_page_errors(app)
    document_contract(app, purposes_by_action(settings.policy_dir))
    for guarded in ROUTERS:
        app.include_router(guarded.router)
    assert_all_routes_guarded(app, PUBLIC_PATHS)
    app.add_middleware(BodyLimit, limit=lambda: body_limit_for(settings.mail_max_message_bytes))
    app.add_middleware(BodyReadTimeout, seconds=settings.http_body_read_timeout_seconds)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    app.add_middleware(PageHeaders)
    return app


def app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory --no-proxy-headers gateway.app:app_from_env` (the
    app handles forwarded headers itself, from GATEWAY_TRUSTED_PROXIES only)."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)
