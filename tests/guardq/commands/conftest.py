"""A fresh Postgres database for the commands that use the store (tests/conftest.py).

The commands read the process settings, so the fixture points GUARDQ_DATABASE_URL at the
database and clears the cached settings and session factory around each test.
"""

import pytest

from guardq.cli import main
from guardq.settings import get_settings
from guardq.store.db import get_session_factory


@pytest.fixture(scope="module")
def empty_database(make_postgres_database):
    """A fresh, unmigrated Postgres database for this module (tests/conftest.py)."""
    return make_postgres_database("guardq_test_cli")


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
