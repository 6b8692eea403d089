"""Integration fixtures: the real Postgres, the real Redis and real ``celery worker``s.

Put tests that need a worker in this directory; they share one session-wide worker.

Fixtures (session-scoped):
- ``services`` -> ``Services``: a fresh, migrated Postgres database (unique name,
  dropped at the end; through GUARDQ_TEST_DATABASE_URL's maintenance database), a Redis
  database this run holds alone (``make_redis_database``, tests/conftest.py), and
  ``services.env``: the environment a guardq subprocess needs to use them
  (GUARDQ_DATABASE_URL, GUARDQ_BROKER_URL, GUARDQ_MODEL = the demo model (or
  GUARDQ_TEST_MODEL), cpu, a
  short GUARDQ_VISIBILITY_TIMEOUT so that lost messages come back within seconds, and an
  author secret and policy (``AUTHOR_SECRET``, ``AUTHORS_POLICY``)).
- ``session_factory``: SQLAlchemy sessions on that database.
- ``celery_app``: a producer app on that broker; pass it as ``submit_job(app=...)``.
- ``worker_factory``: ``worker_factory.start(prefix, queues="realtime,bulk",
  callbacks=False, per_device=1, **env)`` starts another ``guardq worker --devices
  cpu`` (its own process group) and waits until its celery workers consume.
  ``WorkerProcess.name`` is the model worker's node name (for ``app.control``; the
  first of ``.model_nodes`` with ``per_device``), ``.kill()`` SIGKILLs the whole
  group, ``.terminate()`` SIGTERMs the supervisor alone, ``.log()`` is the output so
  far. Every worker started is stopped at the end of the session.
- ``celery_worker``: the shared worker (realtime, bulk, and a callbacks worker).
- ``wait_for_job``: ``wait_for_job(job_id, timeout=60)`` -> the finished ``JobProgress``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from guardq.commands.worker import node_names
from guardq.queue import BULK, REALTIME, make_celery
from guardq.settings import DEMO_MODEL, REPO_ROOT, Settings
from guardq.store.db import create_db_engine, session_scope
from guardq.store.db import session_factory as make_session_factory
from guardq.store.enums import JobStatus
from guardq.store.jobs import get_job
from guardq.store.migrate import upgrade_database

# Seconds before Redis hands an unacknowledged message to another worker: short, so
# that the lost-worker test is quick, yet longer than any test batch takes.
VISIBILITY_TIMEOUT = 20
# The demo model unless the run names another (a real checkpoint, on a bigger machine).
MODEL = os.environ.get("GUARDQ_TEST_MODEL", str(DEMO_MODEL))
# Model loading and warmup on a busy 2-core machine.
WORKER_START_TIMEOUT_S = 180
# Workers track authors (tests/integration/test_lists_authors.py); items without an
# author, as every other test sends, are not affected.
AUTHOR_SECRET = "integration-author-secret"
AUTHORS_POLICY = '{"authors": {"unsafe_strikes": 3, "window": "P1D", "hold": "PT24H"}}'


@dataclass(frozen=True)
class Services:
    database_url: str
    broker_url: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def services(make_postgres_database, make_redis_database):
    if Path(MODEL) == DEMO_MODEL and not (DEMO_MODEL / "model.safetensors").is_file():
        pytest.fail("models/demo/model.safetensors is missing: build the demo model first")
    url = make_postgres_database("guardq_test_int")
    upgrade_database(url)
    redis_url = make_redis_database()
    env = {
        **os.environ,
        "GUARDQ_DATABASE_URL": url,
        "GUARDQ_BROKER_URL": redis_url,
        "GUARDQ_MODEL": MODEL,
        "GUARDQ_DEVICE": "cpu",
        "GUARDQ_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "GUARDQ_AUTHOR_SECRET": AUTHOR_SECRET,
        "GUARDQ_POLICY": AUTHORS_POLICY,
        # The tests' callback receivers listen on 127.0.0.1 (and only there: a receiver
        # on another loopback address stands for a host that guardq must refuse).
        "GUARDQ_CALLBACK_ALLOW": "127.0.0.1",
    }
    env.pop("GUARDQ_RESULT_BACKEND_URL", None)
    return Services(database_url=url, broker_url=redis_url, env=env)


@pytest.fixture(scope="session")
def session_factory(services):
    # The test observes the store across the outage test's Postgres restart.
    engine = create_db_engine(services.database_url, pool_pre_ping=True)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def celery_app(services):
    settings = Settings(
        broker_url=services.broker_url,
        database_url=services.database_url,
        visibility_timeout=VISIBILITY_TIMEOUT,
    )
    app = make_celery(settings)
    yield app
    app.close()


class WorkerProcess:
    """``guardq worker --devices cpu`` in its own process group, logging to a file: a
    supervisor, its celery worker (solo pool, the demo model) and, optionally, the
    callbacks worker. ``name`` is the model worker's Celery node name."""

    def __init__(
        self,
        prefix: str,
        env: dict[str, str],
        log_path: Path,
        queues: str,
        callbacks: bool,
        per_device: int = 1,
    ) -> None:
        host = socket.gethostname()
        self.model_nodes = [f"{node}@{host}" for node in node_names(prefix, "cpu", per_device)]
        self.name = self.model_nodes[0]
        self.nodes = self.model_nodes + ([f"{prefix}-callbacks@{host}"] if callbacks else [])
        self.log_path = log_path
        argv = [
            sys.executable, "-m", "guardq.cli", "worker", "--devices", "cpu",
            "--queues", queues, "--name", prefix, "--loglevel", "INFO",
            "--per-device", str(per_device),
        ]  # fmt: skip
        if not callbacks:
            argv.append("--no-callbacks")
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = WORKER_START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if all(f"{node} ready." in log for node in self.nodes):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"worker {self.name} did not start:\n{self.log()[-4000:]}")

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the whole process group: supervisor and workers, no cleanup."""
        if self.group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        if not self._log.closed:
            self._log.close()

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM to the supervisor alone, as an orchestrator sends it; its exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.terminate()
        self.kill()


class WorkerFactory:
    def __init__(self, services: Services, log_dir: Path) -> None:
        self.services, self.log_dir = services, log_dir
        self.started: list[WorkerProcess] = []

    def start(
        self,
        prefix: str,
        *,
        queues: str = f"{REALTIME},{BULK}",
        callbacks: bool = False,
        per_device: int = 1,
        **env: str,
    ) -> WorkerProcess:
        worker = WorkerProcess(
            prefix,
            {**self.services.env, **env},
            self.log_dir / f"{prefix}.log",
            queues,
            callbacks,
            per_device,
        )
        self.started.append(worker)
        worker.wait_ready()
        return worker


@pytest.fixture(scope="session")
def worker_factory(services, tmp_path_factory):
    factory = WorkerFactory(services, tmp_path_factory.mktemp("workers"))
    yield factory
    for worker in factory.started:
        worker.stop()


@pytest.fixture(scope="session")
def celery_worker(worker_factory):
    return worker_factory.start("shared", callbacks=True)


@pytest.fixture(scope="session")
def wait_for_job(session_factory):
    def wait(job_id: uuid.UUID, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while True:
            with session_scope(session_factory) as session:
                job = get_job(session=session, job_id=job_id)
            if job.status in (JobStatus.DONE, JobStatus.FAILED):
                return job
            if time.monotonic() > deadline:
                progress = f"{job.done + job.failed}/{job.total}"
                raise TimeoutError(f"job {job_id}: {progress} after {timeout} s")
            time.sleep(0.2)

    return wait
