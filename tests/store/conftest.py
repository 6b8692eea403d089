"""Databases for the store tests: a fresh Postgres database per test session, SQLite files.

Each run creates its own uniquely named Postgres databases through the maintenance
database and drops them at the end, so parallel runs and other suites never collide.
GUARDQ_TEST_DATABASE_URL points at that maintenance database (tests only; the service
reads its own URL from guardq.settings).
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, delete, pool, text
from sqlalchemy.engine import make_url

from guardq.store.db import create_db_engine, normalize_url, session_factory
from guardq.store.migrate import upgrade_database
from guardq.store.models import Base

MAINTENANCE_URL = normalize_url(
    os.environ.get(
        "GUARDQ_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
)


@pytest.fixture(scope="session")
def make_postgres_database():
    """A factory of empty Postgres databases, all dropped when the session ends."""
    admin = create_engine(MAINTENANCE_URL, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    created: list[str] = []

    def make() -> str:
        name = f"guardq_test_{uuid.uuid4().hex[:16]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(MAINTENANCE_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as connection:
        for name in created:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_engine(make_postgres_database):
    url = make_postgres_database()
    upgrade_database(url)
    engine = create_db_engine(url)
    yield engine
    engine.dispose()


def _empty(engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))


@pytest.fixture
def postgres_factory(postgres_engine):
    yield session_factory(postgres_engine)
    _empty(postgres_engine)


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
