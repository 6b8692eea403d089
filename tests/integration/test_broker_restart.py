"""Redis restarted in the middle of a job, append-only on as in docker-compose.yml: the
job completes with exactly one verdict per item, and the worker and the API reconnect by
themselves.

The test starts a redis-server of its own on a free port (never the shared one), a
worker and the API on it, submits a bulk job through the API, and restarts that Redis
once the first verdicts are in.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from redis import Redis
from sqlalchemy import func, select

from api.app import create_app
from guardq.queue import BULK
from guardq.settings import Settings
from guardq.store.db import session_scope
from guardq.store.enums import ItemStatus, JobStatus, KeyRole
from guardq.store.jobs import get_job
from guardq.store.keys import create_api_key
from guardq.store.models import Item, VerdictRecord

from ..conftest import live_server
from .conftest import Services, WorkerFactory

pytestmark = pytest.mark.integration

ITEMS = 1500
REDIS_START_TIMEOUT_S = 30
PROGRESS_TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server on its own port and directory, append-only as in compose."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--appendonly", "yes", "--save", "", "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(argv)
        client = Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while True:
            try:
                if client.ping():
                    return
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.1)
            finally:
                client.close()

    def stop(self) -> None:
        """A clean stop (SIGTERM): Redis writes its append-only file out and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: apt-get install -y redis-server")
    redis = OwnRedis(tmp_path)
    redis.start()
    yield redis
    redis.kill()


@pytest.fixture
def worker_on_own_redis(services, own_redis, tmp_path):
    env = {**services.env, "GUARDQ_BROKER_URL": own_redis.url}
    factory = WorkerFactory(
        Services(database_url=services.database_url, broker_url=own_redis.url, env=env),
        tmp_path,
    )
    worker = factory.start("brokerrestart")
    yield worker
    worker.stop()


def _wait(condition, what: str, timeout: float = PROGRESS_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(0.2)


def _job(session_factory, job_id):
    with session_scope(session_factory) as session:
        return get_job(session=session, job_id=job_id)


def test_a_redis_restart_mid_job_loses_and_doubles_nothing_and_everyone_reconnects(
    services, session_factory, own_redis, worker_on_own_redis
):
    settings = Settings(
        database_url=services.database_url,
        broker_url=own_redis.url,
        max_items_per_request=ITEMS,
    )
    with session_scope(session_factory) as session:
        key = create_api_key(session=session, name="broker-restart", role=KeyRole.PRODUCER).key
    headers = {"Authorization": f"Bearer {key}"}
    marker = uuid.uuid4().hex
    items = [{"text": f"Line {n} of a file to label {marker}"} for n in range(ITEMS)]

    with live_server(create_app(settings)) as base:
        answer = httpx.post(
            f"{base}/v1/jobs",
            json={"priority": "bulk", "items": items},
            headers=headers,
            timeout=60,
        )
        assert answer.status_code == 202, answer.text
        job_id = uuid.UUID(answer.json()["id"])

        _wait(lambda: _job(session_factory, job_id).done > 0, "no verdict")
        own_redis.stop()
        at_restart = _job(session_factory, job_id)
        assert at_restart.status is not JobStatus.DONE, "the job ended before the restart"
        own_redis.start()
        # The append-only file kept the queue: the messages not yet acknowledged are back.
        kept = Redis.from_url(own_redis.url)
        assert kept.llen(BULK) + kept.hlen("unacked") > 0
        kept.close()

        job = _wait(
            lambda: (j := _job(session_factory, job_id)).status is JobStatus.DONE and j,
            "the job did not finish after the restart",
        )
        assert (job.total, job.done, job.failed) == (ITEMS, ITEMS, 0)
        with session_scope(session_factory) as session:
            item_ids = select(Item.id).where(Item.job_id == job_id)
            verdicts = session.scalar(
                select(func.count())
                .select_from(VerdictRecord)
                .where(VerdictRecord.item_id.in_(item_ids))
            )
            distinct = session.scalar(
                select(func.count(func.distinct(VerdictRecord.item_id))).where(
                    VerdictRecord.item_id.in_(item_ids)
                )
            )
            statuses = set(session.scalars(select(Item.status).where(Item.job_id == job_id)))
        assert verdicts == distinct == ITEMS
        assert statuses == {ItemStatus.DONE}
        # Whether the worker logs "Connection to broker lost" depends on timing: when
        # the restart falls inside one long engine call (all 1,500 items gathered into
        # it), the client's own retry reconnects its sockets before the event loop
        # looks, and nothing is logged. What matters is checked instead: the messages
        # outstanding at the restart were judged once each (above), and a job sent after
        # it is taken by the same worker (below).

        # The API reconnected too: its health check sees Redis, and a new job goes through
        # the same worker.
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        answer = httpx.post(
            f"{base}/v1/jobs",
            json={"priority": "bulk", "items": [{"text": f"After the restart {marker}"}]},
            headers=headers,
            timeout=60,
        )
        assert answer.status_code == 202, answer.text
        after = uuid.UUID(answer.json()["id"])
        _wait(lambda: _job(session_factory, after).status is JobStatus.DONE, "no reconnect")
        # The worker whose connections the restart cut judged it: its report names the
        # job (logged just after the commit that finished it).
        _wait(
            lambda: f"job {after}:" in worker_on_own_redis.log(),
            "the worker's report of the job sent after the restart",
            timeout=30,
        )
