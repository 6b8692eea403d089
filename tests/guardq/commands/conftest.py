"""A fresh Postgres database for the commands that use the store (as in tests/store).

The commands read the process settings, so the fixture points GUARDQ_DATABASE_URL at the
database and clears the cached settings and session factory around each test.
"""

import os
import uuid

import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from guardq.cli import main
from guardq.settings import get_settings
from guardq.store.db import get_session_factory, normalize_url

MAINTENANCE_URL = normalize_url(
    os.environ.get(
        "GUARDQ_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
)


@pytest.fixture(scope="module")
def empty_database():
    """A fresh, unmigrated Postgres database for this module, dropped at its end."""
    admin = create_engine(MAINTENANCE_URL, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    name = f"guardq_test_cli_{uuid.uuid4().hex[:16]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(MAINTENANCE_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(empty_database, monkeypatch):
    """GUARDQ_DATABASE_URL for the commands, which read the process settings."""
    monkeypatch.setenv("GUARDQ_DATABASE_URL", empty_database)
    get_settings.cache_clear()
    get_session_factory.cache_clear()
    yield empty_database
    get_session_factory().kw["bind"].dispose()
    get_settings.cache_clear()
    get_session_factory.cache_clear()


@pytest.fixture
def migrated(database_url, capsys):
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    return database_url
