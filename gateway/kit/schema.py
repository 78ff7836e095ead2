"""Every table's model, imported in one place so Alembic and the schema test see them all."""

from __future__ import annotations

from sqlalchemy import MetaData

from gateway.kit.models import Base


def load_all_models() -> MetaData:
    import gateway.accounts.models
    import gateway.audit.models
    import gateway.mail.models  # noqa: F401

    try:
        import gateway.crypto.models  # noqa: F401
    except ImportError:  # the encryption package may not be installed in a partial checkout
        pass
    return Base.metadata
