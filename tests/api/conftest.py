"""The API on a fresh Postgres database (one per test session) and a Redis database.

The database comes from tests/conftest.py (made for this run, dropped at its end). The
app under test gets its own ``Settings`` (small limits, a short moderation timeout)
instead of the process ones.
No worker runs here: the tasks the API sends stay in the test Redis database, which is
emptied of guardq's queues before and after. tests/integration runs the real worker.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from redis import Redis

from api.app import create_app
from api.metrics import queue_keys
from guardq.settings import Settings
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import create_api_key

pytestmark = pytest.mark.integration


# Small limits, so that the limit tests stay cheap.
MAX_TEXT_CHARS = 200
MAX_ITEMS = 5


@pytest.fixture(scope="session")
def database_url(postgres_url):
    """The session's migrated Postgres database (tests/conftest.py)."""
    return postgres_url


@pytest.fixture(scope="session")
def engine(postgres_engine):
    return postgres_engine


@pytest.fixture
def factory(postgres_factory):
    """Sessions on the test database, emptied after each test."""
    return postgres_factory


@pytest.fixture(scope="session")
def redis_url(make_redis_database):
    """A Redis database of its own: no worker listens there, so submitted tasks wait."""
    return make_redis_database()


@pytest.fixture
def redis(redis_url):
    client = Redis.from_url(redis_url)
    client.delete(*queue_keys())
    yield client
    client.delete(*queue_keys())
    client.close()


@pytest.fixture
def settings(database_url, redis_url):
    return Settings(
        database_url=database_url,
        broker_url=redis_url,
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
