"""The people's pages: the privacy center (/me), the access desk (/desk), the review console
(/console), and the session link that opens them (docs/pages.md).

`PAGE_ROUTERS` lists every page router; gateway/app.py includes them like the API's routers
(so the routes test sees them). A persona's package adds its router here."""

from __future__ import annotations

from gateway.pages.console.router import router as console_router
from gateway.pages.desk.router import router as desk_router
from gateway.pages.kit import PageRouter
from gateway.pages.privacy import router as privacy_router
from gateway.pages.sessions import router as sessions_router

PAGE_ROUTERS: tuple[PageRouter, ...] = (sessions_router, privacy_router, desk_router,
                                        console_router)
