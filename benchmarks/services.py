"""Scratch stores and guardq processes for benchmarks/pipeline.py, all undone on exit.

``scratch_stores()`` creates a fresh Postgres database through the maintenance
database, migrates it, creates a producer API key in it, and takes a Redis database
1-15 with the lock key the test suite uses (tests/conftest.py), so a benchmark and a
test run never consume or flush each other's queues. On exit the database is dropped
and the Redis database flushed (if the lock is still ours).

``GuardqProcess`` is one ``guardq`` subcommand in its own session (process group),
logging to a file; ``stop()`` sends SIGTERM to the whole group, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
from redis import Redis
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from guardq.commands.worker import node_names
from guardq.settings import REPO_ROOT
from guardq.store.db import create_db_engine, normalize_url, session_factory, session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import create_api_key
from guardq.store.migrate import upgrade_database

# The lock tests/conftest.py holds in each Redis database a test run uses.
REDIS_LOCK = "guardq:test-run"
# Long enough for a long benchmark; a crashed run's lock lapses after it.
REDIS_LOCK_TTL_S = 4 * 3600
# Model loading and warmup on a busy 2-core machine.
START_TIMEOUT_S = 300
STOP_GRACE_S = 15


@dataclass(frozen=True)
class Stores:
    database_url: str
    broker_url: str
    producer_key: str


@contextmanager
def scratch_stores(maintenance_url: str, redis_server: str) -> Iterator[Stores]:
    """A migrated scratch Postgres database with a producer key, and a Redis database
    held by this run; both gone when the block exits, however it exits."""
    maintenance_url = normalize_url(maintenance_url)
    admin = create_engine(maintenance_url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    name = f"guardq_bench_{uuid.uuid4().hex[:16]}"
    token = uuid.uuid4().hex
    redis: Redis | None = None
    created = False
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created = True
        url = make_url(maintenance_url).set(database=name).render_as_string(hide_password=False)
        upgrade_database(url)
        engine = create_db_engine(url, poolclass=pool.NullPool)
        with session_scope(session_factory(engine)) as session:
            key = create_api_key(session=session, name="benchmark", role=KeyRole.PRODUCER).key
        engine.dispose()
        redis, broker_url = _take_redis_database(redis_server, token)
        yield Stores(database_url=url, broker_url=broker_url, producer_key=key)
    finally:
        if redis is not None:
            if redis.get(REDIS_LOCK) == token.encode():
                redis.flushdb()
            redis.close()
        if created:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _take_redis_database(server: str, token: str) -> tuple[Redis, str]:
    server = server.rstrip("/")
    for db in range(1, 16):
        client = Redis.from_url(f"{server}/{db}")
        if client.set(REDIS_LOCK, token, nx=True, ex=REDIS_LOCK_TTL_S):
            # Empty it of what a crashed run left, keeping the lock, in one step.
            with client.pipeline(transaction=True) as tx:
                tx.flushdb().set(REDIS_LOCK, token, ex=REDIS_LOCK_TTL_S).execute()
            return client, f"{server}/{db}"
        client.close()
    raise RuntimeError(f"every Redis database 1-15 on {server} is held by another run")


def service_env(stores: Stores, model: str, device: str, extra: dict[str, str]) -> dict[str, str]:
    """The environment of the worker and the API: this one, pointed at the scratch stores."""
    env = {**os.environ, **extra}
    env.pop("GUARDQ_RESULT_BACKEND_URL", None)
    env.update(
        GUARDQ_DATABASE_URL=stores.database_url,
        GUARDQ_BROKER_URL=stores.broker_url,
        GUARDQ_MODEL=model,
        GUARDQ_DEVICE=device,
    )
    return env


class GuardqProcess:
    """``python -m guardq.cli ARGS`` in its own process group, output to ``log_path``."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "guardq.cli", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        tail = self.log()[-3000:]
        raise RuntimeError(f"{what} did not start; its log ({self.log_path}):\n{tail}")

    def stop(self) -> None:
        """SIGTERM to the whole group (the supervisor and its celery workers), then
        SIGKILL to whatever is left after the grace period."""
        with suppress(ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=STOP_GRACE_S)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log.close()


def start_worker(
    env: dict[str, str], device: str, log_dir: Path, per_device: int = 1
) -> GuardqProcess:
    """``guardq worker`` on ``device`` (realtime and bulk queues, no callbacks worker),
    ``per_device`` processes on it, returned once each of its celery workers consumes."""
    name = f"bench{uuid.uuid4().hex[:6]}"
    nodes = [f"{node}@{socket.gethostname()}" for node in node_names(name, device, per_device)]
    args = ["worker", "--devices", device, "--queues", "realtime,bulk", "--name", name]
    args += ["--per-device", str(per_device), "--no-callbacks"]
    worker = GuardqProcess(args, env, log_dir / "worker.log")
    worker.wait_until(
        lambda: all(f"{node} ready." in worker.log() for node in nodes),
        "guardq worker",
        START_TIMEOUT_S,
    )
    return worker


def start_api(env: dict[str, str], log_dir: Path) -> tuple[GuardqProcess, str]:
    """``guardq api`` on a free local port, returned with its base URL once /healthz is 200."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = GuardqProcess(["api", "--port", str(port)], env, log_dir / "api.log")
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    api.wait_until(healthy, "guardq api", START_TIMEOUT_S)
    return api, url
