"""The effective routes of a FastAPI application, those of included routers too."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import BaseRoute


def all_routes(app: FastAPI) -> list[BaseRoute]:
    """Every effective route, including those of included routers (which FastAPI >= 0.16x keeps
    nested as lazily-expanded `_IncludedRouter` entries instead of copying them)."""
    try:
        from fastapi.routing import _iter_included_route_candidates
    except ImportError:  # older FastAPI copies included routes into app.routes
        return list(app.routes)
    return list(_iter_included_route_candidates(app.routes))
