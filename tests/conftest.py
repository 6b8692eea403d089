"""Fresh databases for every suite: Postgres databases made for this run, dropped at its end.

GUARDQ_TEST_DATABASE_URL names the maintenance database (tests only; the service reads its
own URL from guardq.settings) through which uniquely named databases are created, so
parallel runs and other suites never collide.

Fixtures:
- ``make_postgres_database()`` -> the URL of a new, empty database (session-scoped factory).
- ``make_redis_database()`` -> the URL of a Redis database this run holds alone.
- ``live_server(app)``: a context manager serving ``app`` under uvicorn on a free port,
  for tests that need real concurrent HTTP (races, a browser); yields the base URL.
- ``postgres_url``: one migrated database shared by the session; ``postgres_engine`` on it;
  ``postgres_factory``: sessions on it, every table emptied after the test.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from redis import Redis
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

REDIS_SERVER_URL = os.environ.get("GUARDQ_TEST_REDIS_SERVER", "redis://127.0.0.1:6379")
# Held in each Redis database a run uses, so that two test runs on one server (two
# checkouts, a session's run beside CI's) never consume or flush each other's queues.
_REDIS_LOCK = "guardq:test-run"
_REDIS_LOCK_TTL_S = 3600


@pytest.fixture(scope="session")
def make_redis_database():
    """A factory of empty Redis databases (URLs), each held by this run alone and
    flushed when the session ends."""
    token = uuid.uuid4().hex
    held: list[Redis] = []

    def make() -> str:
        for db in range(1, 16):
            client = Redis.from_url(f"{REDIS_SERVER_URL}/{db}")
            if client.set(_REDIS_LOCK, token, nx=True, ex=_REDIS_LOCK_TTL_S):
                # Empty it of what a crashed run left, keeping the lock, in one step.
                with client.pipeline(transaction=True) as tx:
                    tx.flushdb().set(_REDIS_LOCK, token, ex=_REDIS_LOCK_TTL_S).execute()
                held.append(client)
                return f"{REDIS_SERVER_URL}/{db}"
            client.close()
        pytest.fail(f"every Redis database 1-15 on {REDIS_SERVER_URL} is held by another run")

    yield make
    for client in held:
        if client.get(_REDIS_LOCK) == token.encode():
            client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def make_postgres_database():
    """A factory of empty Postgres databases, all dropped when the session ends."""
    admin = create_engine(MAINTENANCE_URL, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    created: list[str] = []

    def make(prefix: str = "guardq_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:16]}"
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
def postgres_url(make_postgres_database):
    url = make_postgres_database()
    upgrade_database(url)
    return url


@pytest.fixture(scope="session")
def postgres_engine(postgres_url):
    # Pings at checkout: the whole run shares this pool, and tests/integration/test_outage.py
    # restarts Postgres under it (the service itself does without; see guardq.store.db).
    engine = create_db_engine(postgres_url, pool_pre_ping=True)
    yield engine
    engine.dispose()


def empty_tables(engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))


@pytest.fixture
def postgres_factory(postgres_engine):
    yield session_factory(postgres_engine)
    empty_tables(postgres_engine)


@contextmanager
def live_server(app) -> Iterator[str]:
    """``app`` served by uvicorn in a thread; yields its base URL, stops it on exit."""
    # The socket is bound here and handed over, so no other process can take the port
    # between choosing and serving it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
