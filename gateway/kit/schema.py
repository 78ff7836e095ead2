"""Every table's model, imported in one place so Alembic and the schema test see them all."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from gateway.kit.models import Base

MODEL_MODULES = (
    "gateway.accounts.models",
    "gateway.mailboxes.models",
    "gateway.mail.models",
    "gateway.mail.write.idempotency",
    "gateway.audit.models",
    "gateway.consent.models",
    "gateway.justifications.models",
    "gateway.crypto.models",
    "gateway.oauth.models",
    "gateway.push.models",
    "gateway.sync.models",
    "gateway.outbox.models",
    "gateway.webhooks.models",
    "gateway.sessions.models",
    "gateway.scheduler.models",
)


def load_all_models() -> MetaData:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return Base.metadata
