"""Alembic environment of the guardq audit store.

The database URL comes, in order, from ``-x url=...`` on the command line, from the
configuration built by ``guardq.store.migrate`` (``config.attributes["url"]``), then from
``GUARDQ_DATABASE_URL``, else the embedded SQLite file; ``guardq.store.db.resolve_url``
decides the last two, so the command line and the service always agree.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from guardq.store.db import resolve_url
from guardq.store.models import Base, UTCDateTime

config = context.config
if config.config_file_name is not None:
    # Keep the loggers of a host process (a test run, the guardq CLI) working.
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    override = context.get_x_argument(as_dictionary=True).get("url")
    return resolve_url(override or config.attributes.get("url"))


def _render_item(type_, obj, autogen_context):
    # Revisions must not import guardq: a model refactor would break old revisions.
    # UTCDateTime only adds Python-side conversion; in the schema it is this type.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        **kwargs,
    )


def run_migrations_offline() -> None:
    url = _url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # NullPool: a migration run is one short connection, not a service.
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
