"""``guardq worker --per-device 2``: two celery workers on one device, each loading its
own model and judging on its own, with the CPU's cores split between them."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from guardq.native import cpu_threads
from guardq.queue import BULK, REALTIME, make_celery
from guardq.settings import Settings
from guardq.store.db import session_scope
from guardq.store.enums import JobStatus, Priority
from guardq.store.jobs import NewItem
from guardq.store.models import Item, VerdictRecord
from guardq.submit import submit_job
from guardq.verdict import Mode

pytestmark = pytest.mark.integration

ITEMS = 24
# Longer than a BRPOP's own timeout (1 s): one sent before a cancel has returned.
BRPOP_S = 1.5


@pytest.fixture(scope="module")
def pair(services, make_redis_database, worker_factory):
    """Two workers on the CPU, on a broker of their own (no other worker takes a job)."""
    broker = make_redis_database()
    worker = worker_factory.start("pair", per_device=2, GUARDQ_BROKER_URL=broker)
    app = make_celery(Settings(broker_url=broker, database_url=services.database_url))
    yield worker, app
    app.close()


def _children_environ(pid: int) -> list[dict[str, str]]:
    listed = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    environs = []
    for child in listed.stdout.split():
        raw = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        environs.append(dict(e.decode().split("=", 1) for e in raw if b"=" in e))
    return environs


def test_each_worker_process_has_its_share_of_the_cores(pair):
    worker, _app = pair
    environs = _children_environ(worker.process.pid)
    assert len(environs) == 2
    share = str(cpu_threads(2))
    assert [env.get("OMP_NUM_THREADS") for env in environs] == [share, share]
    assert share == str(max(1, len(os.sched_getaffinity(0)) // 2))


def test_either_worker_alone_judges_a_whole_job(pair, services, session_factory, wait_for_job):
    worker, app = pair
    first, second = worker.model_nodes
    replies = app.control.ping(destination=[first, second], timeout=5)
    assert {node for reply in replies for node in reply} == {first, second}
    for busy, idle in [(first, second), (second, first)]:
        for queue in (REALTIME, BULK):
            assert app.control.cancel_consumer(queue, destination=[idle], reply=True)
        try:
            time.sleep(BRPOP_S)
            [consumed] = app.control.inspect(destination=[idle], timeout=5).active_queues().values()
            assert consumed == []
            marker = uuid.uuid4().hex
            job = submit_job(
                session_factory=session_factory,
                mode=Mode.PROMPT,
                priority=Priority.BULK,
                items=[NewItem(text=f"Message {n} for {busy} {marker}") for n in range(ITEMS)],
                model_id=services.env["GUARDQ_MODEL"],
                app=app,
            )
            progress = wait_for_job(job.id, timeout=120)
        finally:
            for queue in (REALTIME, BULK):
                app.control.add_consumer(queue, destination=[idle], reply=True)
        assert (progress.status, progress.done, progress.failed) == (JobStatus.DONE, ITEMS, 0)
        with session_scope(session_factory) as session:
            counts = session.execute(
                select(func.count(VerdictRecord.id), func.count(func.distinct(Item.id)))
                .join(Item, Item.id == VerdictRecord.item_id)
                .where(Item.job_id == job.id)
            ).one()
        assert tuple(counts) == (ITEMS, ITEMS)
