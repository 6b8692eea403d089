"""The API on a fresh Postgres database (one per test session) and a Redis database.

The database comes from tests/conftest.py (made for this run, dropped at its end). The
app under test gets its own ``Settings`` (small limits, a short moderation timeout)
instead of the process ones.
No worker runs here: the tasks the API sends stay in the test Redis database, which is
emptied of guardq's queues before and after. tests/integration runs the real worker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from redis import Redis

from api.app import create_app
from api.metrics import queue_keys
from guardq.settings import REPO_ROOT, Settings
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    """A local TCP port nothing listens on (just now)."""
    return _free_port()


@pytest.fixture
def api_process(database_url, redis_url):
    """``api_process(log)`` starts ``guardq api`` on this session's stores and a free
    port, its output in ``log``; (the process, its base URL) once it answers. Every
    process started is terminated at the end of the test."""
    started: list[subprocess.Popen] = []

    def start(log: Path) -> tuple[subprocess.Popen, str]:
        port = _free_port()
        env = {**os.environ, "GUARDQ_DATABASE_URL": database_url, "GUARDQ_BROKER_URL": redis_url}
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "guardq.cli", "api", "--port", str(port)],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                return process, base
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    tail = log.read_text()[-3000:]
                    raise RuntimeError(f"the API did not start:\n{tail}") from None
                time.sleep(0.2)

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
