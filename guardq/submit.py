"""Submitting a job: commit its rows, answer what the cache knows, enqueue the rest.

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
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from guardq.policy import Policy
from guardq.queue import (
    MODERATE_BULK,
    MODERATE_REALTIME,
    REALTIME_TASK_ITEMS,
    SEND_CALLBACK,
    get_celery,
)
from guardq.recording import Judged, Notify, commit
from guardq.screening import Screen, screen_batch
from guardq.settings import get_settings
from guardq.store.cache import get_cached_verdicts
from guardq.store.db import session_scope
from guardq.store.enums import Priority
from guardq.store.jobs import (
    CreatedJob,
    NewItem,
    create_job,
    mark_job_failed,
)
from guardq.store.models import utcnow
from guardq.verdict import Mode, Verdict

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
    job_id: uuid.UUID,
    *,
    mode: Mode,
    priority: Priority,
    item_ids: Sequence[uuid.UUID],
    items: Sequence[NewItem],
    model_id: str,
    app: Celery | None = None,
) -> int:
    """Send tasks for the committed job's ``items`` (with their ``item_ids``); how many.

    Bulk jobs go as tasks of ``GUARDQ_BULK_TASK_ITEMS`` items (the worker gathers
    several into one engine call); realtime jobs as tasks of a few items, which the
    worker gathers across jobs.
    """
    app = app or get_celery()
    if priority is Priority.BULK:
        name, size = MODERATE_BULK, app.conf.guardq_bulk_task_items
    else:
        name, size = MODERATE_REALTIME, REALTIME_TASK_ITEMS
    sent = 0
    with app.producer_or_acquire() as producer:
        for part in _chunks(len(items), size):
            payload = task_payload(
                job_id=job_id,
                mode=mode,
                model_id=model_id,
                item_ids=item_ids[part],
                items=items[part],
            )
            app.send_task(name, kwargs=payload, producer=producer, ignore_result=True)
            sent += 1
    return sent


def _verdict(cached: Verdict, screen: Screen | None) -> Verdict:
    # A list that decides without the model decides cached content too.
    return screen.verdict() if screen is not None and screen.skip_model else cached


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
    alert_url: str | None = None,
    app: Celery | None = None,
    policy: Policy | None = None,
    notify: Notify | None = None,
    lists: Sequence[str] | None = None,
    in_transaction: Callable[[Session, CreatedJob], None] | None = None,
) -> CreatedJob:
    """Create the job and its items in one transaction, commit, answer what the verdict
    cache knows, then enqueue the rest.

    A text already judged by ``model_id`` in ``mode`` never waits for a worker: its
    cached verdict is recorded here (decided by ``policy``, default the deployment's)
    and reported to ``notify`` (``guardq.recording``); a job whose texts are all known
    is done when this returns, and sends no task at all.

    Raises ValueError (naming the field) for invalid items, before anything is written;
    ``EnqueueError`` when the broker refused the tasks (the job is then marked failed).
    ``retain_text`` False: escalated items keep no text for reviewers (the workers read
    the choice from the job's row). ``lists``: job-scoped term lists (``guardq.lists``);
    cached items are screened here (``guardq.screening``), the others by the worker.
    the choice from the job's row). ``alert_url``: where the job's blocked items are
    reported (``guardq.alerts``; the caller checks it, see ``guardq.outbound``).
    ``in_transaction(session, job)`` runs in the
    transaction that creates the job (a batch links its parts there, so that a part is
    submitted once); what it raises rolls the job back.
    """
    policy = policy or get_settings().policy
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
            lists=lists,
            alert_url=alert_url,
        )
        if in_transaction is not None:
            in_transaction(session, job)
        cached = get_cached_verdicts(
            session=session,
            hashes=[created.content_sha256 for created in job.items],
            model_id=model_id,
            mode=mode,
        )
        screens = screen_batch(
            session,
            [
                (created.id, item.text)
                for created, item in zip(job.items, items, strict=True)
                if created.content_sha256 in cached
            ],
            policy=policy,
            now=utcnow(),
        )
    todo = [i for i, created in enumerate(job.items) if created.content_sha256 not in cached]
    if len(todo) < len(items):
        hits = [
            Judged(
                item_id=created.id,
                job_id=job.id,
                mode=mode,
                sha256=created.content_sha256,
                verdict=_verdict(cached[created.content_sha256].verdict, screens.get(created.id)),
                chunk_count=cached[created.content_sha256].chunk_count,
                from_cache=True,
                latency_ms=0,
                text=item.text,
                prompt=item.prompt,
                retain_text=retain_text,
                realtime=priority is Priority.REALTIME,
                screen=screens.get(created.id),
            )
            for created, item in zip(job.items, items, strict=True)
            if created.content_sha256 in cached
        ]
        outcome = commit(
            hits,
            session_factory=session_factory,
            model_id=model_id,
            policy=policy,
            notify=notify,
        )
        if outcome.finished_jobs and callback_url is not None:
            (app or get_celery()).send_task(
                SEND_CALLBACK, kwargs={"job_id": str(job.id)}, ignore_result=True
            )
    if not todo:
        log.info("job %s: %d %s item(s), all from the cache", job.id, len(items), priority.value)
        return job
    try:
        tasks = enqueue_job(
            job.id,
            mode=mode,
            priority=priority,
            item_ids=[job.items[i].id for i in todo],
            items=[items[i] for i in todo],
            model_id=model_id,
            app=app,
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
    log.info(
        "job %s: %d %s item(s), %d from the cache, %d in %d task(s)",
        job.id, len(items), priority.value, len(items) - len(todo), len(todo), tasks,
    )  # fmt: skip
    return job
