"""Databases for the store tests: the shared Postgres one (tests/conftest.py) and SQLite
files, so that every store test runs on both backends."""

from __future__ import annotations

import pytest

from guardq.store.db import create_db_engine, session_factory
from guardq.store.migrate import upgrade_database


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'guardq.sqlite3'}"


@pytest.fixture
def sqlite_factory(sqlite_url):
    upgrade_database(sqlite_url)
    engine = create_db_engine(sqlite_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(params=["postgres", "sqlite"])
def factory(request):
    """The session factory of a migrated store, once on Postgres and once embedded."""
    return request.getfixturevalue(f"{request.param}_factory")
