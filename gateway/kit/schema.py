"""Every table's model, imported in one place so Alembic and the schema test see them all."""

from __future__ import annotations

from sqlalchemy import MetaData

from gateway.kit.models import Base


def load_all_models() -> MetaData:
    return Base.metadata
