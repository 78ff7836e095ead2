"""Run Alembic migrations programmatically (`gmail-gateway migrate`, the tests, the demo)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_BESIDE_PACKAGE = Path(__file__).resolve().parents[2] / "migrations"


def migrations_dir() -> Path:
    """The checkout's migrations/ (editable install), else ./migrations (the image's /app)."""
    return _BESIDE_PACKAGE if _BESIDE_PACKAGE.is_dir() else Path.cwd() / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("file_template",
                           "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    """To `heads`: every branch (features developed side by side may branch off one revision;
    they are linearised before release)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
