"""The effective routes of a FastAPI application, those of included routers too."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import _iter_included_route_candidates
from starlette.routing import BaseRoute


def all_routes(app: FastAPI | APIRouter) -> list[BaseRoute]:
    """Every effective route of an app or a router, including those of included routers (FastAPI
    keeps them nested as lazily-expanded `_IncludedRouter` entries instead of copying them into
    `routes`)."""
    return list(_iter_included_route_candidates(app.routes))
