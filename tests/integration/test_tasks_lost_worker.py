"""A worker SIGKILLed in the middle of a job: its unacknowledged message comes back after
the visibility timeout, and a new worker finishes the job with one verdict per item.
The workers are ``guardq worker`` process groups: the kill takes the supervisor and its
celery worker at once, and the rescuer's supervisor shows it stops on SIGTERM."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, select

from guardq.queue import BULK, make_celery
from guardq.settings import Settings
from guardq.store.db import session_scope
from guardq.store.enums import JobStatus, Priority
from guardq.store.jobs import NewItem, get_job
from guardq.store.models import Item, VerdictRecord
from guardq.submit import submit_job
from guardq.verdict import Mode

pytestmark = pytest.mark.integration

ITEMS = 320
TASK_ITEMS = 16  # many small tasks, all in the victim's one gather
# The victim's token budget: a few rows a batch, so that its one engine stream commits
# a wave of ~30 items at a time and the kill lands mid-job, with waves still to run.
VICTIM_BATCH_TOKENS = "512"


def _verdict_counts(session_factory, job_id):
    with session_scope(session_factory) as session:
        return session.execute(
            select(func.count(VerdictRecord.id), func.count(func.distinct(VerdictRecord.item_id)))
            .join(Item, Item.id == VerdictRecord.item_id)
            .where(Item.job_id == job_id)
        ).one()


def test_killed_worker_loses_no_item_and_doubles_none(
    services, session_factory, celery_worker, worker_factory, wait_for_job
):
    app = make_celery(
        Settings(broker_url=services.broker_url, bulk_task_items=TASK_ITEMS, visibility_timeout=20)
    )
    # The shared worker stops taking bulk messages, so that the job goes to the victim.
    assert app.control.cancel_consumer(BULK, destination=[celery_worker.name], reply=True)
    try:
        victim = worker_factory.start(
            "victim", queues=BULK, GUARDQ_MAX_BATCH_TOKENS=VICTIM_BATCH_TOKENS
        )
        marker = uuid.uuid4().hex
        job = submit_job(
            session_factory=session_factory,
            mode=Mode.PROMPT,
            priority=Priority.BULK,
            items=[NewItem(text=f"Note {n} about the weekend trip {marker}") for n in range(ITEMS)],
            model_id=services.env["GUARDQ_MODEL"],
            app=app,
        )
        deadline = time.monotonic() + 120
        while _verdict_counts(session_factory, job.id)[0] < TASK_ITEMS:
            assert time.monotonic() < deadline, "the victim recorded nothing"
            time.sleep(0.05)
        victim.kill()
        recorded_at_kill = _verdict_counts(session_factory, job.id)[0]
        assert recorded_at_kill < ITEMS

        rescuer = worker_factory.start("rescuer", queues=BULK)
        progress = wait_for_job(job.id, timeout=180)
        # guardq worker passes an orchestrator's SIGTERM on and exits once they are done.
        assert rescuer.terminate() == 0
        assert not rescuer.group_alive()
    finally:
        app.control.add_consumer(BULK, destination=[celery_worker.name], reply=True)
        app.close()

    assert (progress.status, progress.done, progress.failed) == (JobStatus.DONE, ITEMS, 0)
    assert tuple(_verdict_counts(session_factory, job.id)) == (ITEMS, ITEMS)
    with session_scope(session_factory) as session:
        assert get_job(session=session, job_id=job.id).done == ITEMS
