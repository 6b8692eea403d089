"""Schema migrations run from code: ``guardq db upgrade`` and the embedded SQLite start.

The revisions live in ``migrations/`` at the repository root; ``alembic.ini`` there serves
the ``alembic`` command line, and this module builds the same configuration without it.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from guardq.settings import REPO_ROOT
from guardq.store.db import resolve_url

MIGRATIONS_DIR = REPO_ROOT / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for the database at ``url`` (see ``db.resolve_url``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Handed to migrations/env.py as an attribute, not an ini option, so that a password
    # containing "%" needs no escaping.
    config.attributes["url"] = resolve_url(url)
    return config


def upgrade_database(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (``alembic upgrade head``)."""
    command.upgrade(alembic_config(url), revision)
