"""Submitting a job: commit its rows, then enqueue its item ids with their texts.

The store keeps hashes only; the texts travel in the broker messages and nowhere else.
That decides what happens when enqueueing fails after the commit: the texts cannot be
recovered later to re-enqueue the job, so ``submit_job`` marks it failed (naming the
error type, never the content) and raises ``EnqueueError``; the producer resubmits.
Messages already sent before the failure are still processed; their verdicts are
recorded, and the job stays failed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from guardq.queue import (
    MODERATE_BULK,
    MODERATE_REALTIME,
    REALTIME_TASK_ITEMS,
    get_celery,
)
from guardq.store.db import session_scope
from guardq.store.enums import Priority
from guardq.store.jobs import CreatedJob, NewItem, create_job, mark_job_failed
from guardq.verdict import Mode

log = logging.getLogger(__name__)


class EnqueueError(RuntimeError):
    """The job was committed but its tasks could not all be sent; it is marked failed."""

    def __init__(self, job_id: uuid.UUID, cause: BaseException) -> None:
        super().__init__(f"job {job_id}: could not enqueue its tasks ({type(cause).__name__})")
        self.job_id = job_id


def task_payload(
    *,
    job_id: uuid.UUID,
    mode: Mode,
    model_id: str,
    item_ids: Sequence[uuid.UUID],
    items: Sequence[NewItem],
) -> dict[str, Any]:
    """The kwargs of one moderation task (JSON): the ids, and the texts to judge.

    ``attempt`` counts redeliveries the worker arranged itself after a failure.
    """
    return {
        "job_id": str(job_id),
        "mode": mode.value,
        "model_id": model_id,
        "items": [
            {"id": str(item_id), "text": item.text, "prompt": item.prompt}
            for item_id, item in zip(item_ids, items, strict=True)
        ],
        "attempt": 0,
    }


def _chunks(count: int, size: int) -> Iterator[slice]:
    for start in range(0, count, size):
        yield slice(start, min(start + size, count))


def enqueue_job(
    job: CreatedJob,
    *,
    mode: Mode,
    priority: Priority,
    items: Sequence[NewItem],
    model_id: str,
    app: Celery | None = None,
) -> int:
    """Send the committed ``job``'s tasks; returns how many. ``items`` in job order.

    Bulk jobs go as tasks of ``GUARDQ_BULK_TASK_ITEMS`` items (full engine batches);
    realtime jobs as tasks of a few items, which the worker gathers across jobs.
    """
    app = app or get_celery()
    if priority is Priority.BULK:
        name, size = MODERATE_BULK, app.conf.guardq_bulk_task_items
    else:
        name, size = MODERATE_REALTIME, REALTIME_TASK_ITEMS
    ids = [created.id for created in job.items]
    sent = 0
    with app.producer_or_acquire() as producer:
        for part in _chunks(len(items), size):
            payload = task_payload(
                job_id=job.id, mode=mode, model_id=model_id, item_ids=ids[part], items=items[part]
            )
            app.send_task(name, kwargs=payload, producer=producer)
            sent += 1
    return sent


def submit_job(
    *,
    session_factory: sessionmaker[Session],
    mode: Mode,
    priority: Priority,
    items: Sequence[NewItem],
    model_id: str,
    callback_url: str | None = None,
    api_key_id: uuid.UUID | None = None,
    retain_text: bool = True,
    app: Celery | None = None,
) -> CreatedJob:
    """Create the job and its items in one transaction, commit, then enqueue them.

    Raises ValueError (naming the field) for invalid items, before anything is written;
    ``EnqueueError`` when the broker refused the tasks (the job is then marked failed).
    ``retain_text`` False: escalated items keep no text for reviewers (the workers read
    the choice from the job's row).
    """
    with session_scope(session_factory) as session:
        job = create_job(
            session=session,
            mode=mode,
            items=items,
            model_id=model_id,
            priority=priority,
            callback_url=callback_url,
            api_key_id=api_key_id,
            retain_text=retain_text,
        )
    try:
        tasks = enqueue_job(
            job, mode=mode, priority=priority, items=items, model_id=model_id, app=app
        )
    except Exception as exc:
        # Any failure to publish (connection refused, timeout, auth) leaves the texts
        # unrecoverable; the job must not sit "queued" forever.
        log.error("job %s: enqueueing failed (%s)", job.id, type(exc).__name__)
        with session_scope(session_factory) as session:
            mark_job_failed(
                session=session, job_id=job.id, error=f"enqueue failed: {type(exc).__name__}"
            )
        raise EnqueueError(job.id, exc) from exc
    log.info("job %s: %d %s item(s) in %d task(s)", job.id, len(items), priority.value, tasks)
    return job
