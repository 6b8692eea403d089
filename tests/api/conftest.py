"""The API on a fresh Postgres database (one per test session) and a Redis database.

As in tests/store: GUARDQ_TEST_DATABASE_URL names the maintenance database through which
a uniquely named database is created and finally dropped. The app under test gets its
own ``Settings`` (small limits, a short moderation timeout) instead of the process ones.
No worker runs here: the tasks the API sends stay in the test Redis database, which is
emptied of guardq's queues before and after. tests/integration runs the real worker.
"""

from __future__ import annotations

import os
import uuid

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import create_engine, delete, pool, text
from sqlalchemy.engine import make_url

from api.app import create_app
from api.metrics import queue_keys
from guardq.settings import Settings
from guardq.store.db import create_db_engine, normalize_url, session_factory, session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import create_api_key
from guardq.store.migrate import upgrade_database
from guardq.store.models import Base

pytestmark = pytest.mark.integration

MAINTENANCE_URL = normalize_url(
    os.environ.get(
        "GUARDQ_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
)
# A Redis database of its own: no worker listens there, so submitted tasks just wait.
REDIS_URL = os.environ.get("GUARDQ_TEST_API_REDIS_URL", "redis://127.0.0.1:6379/13")

# Small limits, so that the limit tests stay cheap.
MAX_TEXT_CHARS = 200
MAX_ITEMS = 5


@pytest.fixture(scope="session")
def database_url():
    admin = create_engine(MAINTENANCE_URL, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    name = f"guardq_test_api_{uuid.uuid4().hex[:16]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(MAINTENANCE_URL).set(database=name).render_as_string(hide_password=False)
    upgrade_database(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url):
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine):
    yield session_factory(engine)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))


@pytest.fixture
def redis():
    client = Redis.from_url(REDIS_URL)
    client.delete(*queue_keys())
    yield client
    client.delete(*queue_keys())
    client.close()


@pytest.fixture
def settings(database_url):
    return Settings(
        database_url=database_url,
        broker_url=REDIS_URL,
        max_text_chars=MAX_TEXT_CHARS,
        max_items_per_request=MAX_ITEMS,
        moderation_timeout_s=0.5,
    )


@pytest.fixture
def client(settings, factory, redis):
    with TestClient(create_app(settings, session_factory=factory)) as client:
        yield client


@pytest.fixture
def make_key(factory):
    def make(role: KeyRole = KeyRole.PRODUCER, name: str = "test") -> dict[str, str]:
        with session_scope(factory) as session:
            created = create_api_key(session=session, name=name, role=role)
        return {"Authorization": f"Bearer {created.key}"}

    return make


@pytest.fixture
def producer(make_key):
    """Headers of a producer key."""
    return make_key(KeyRole.PRODUCER)
