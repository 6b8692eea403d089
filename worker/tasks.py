"""The Celery tasks: thin doors onto ``worker.pipeline`` (the contract is ``guardq.queue``).

Both moderation tasks gather messages (``worker.gathering``): the worker buffers them
and runs one pipeline call for what is buffered as soon as the realtime queue has
nothing more waiting, or for ``REALTIME_GATHER_MESSAGES`` realtime /
``BULK_GATHER_MESSAGES`` bulk messages, or every ``REALTIME_GATHER_INTERVAL_S``
(realtime), or once no bulk message has come for ``BULK_GATHER_QUIET_S``. So an idle
worker answers a lone request at once, a bulk job's tasks run as one call, and a busy
worker feeds the engine big calls.

Failures: a batch that raises (store unreachable, engine out of memory) is sent again
as new messages, with backoff, up to ``MAX_ATTEMPTS``; then its items are marked failed.
A gathered message is acknowledged even when its call raised (``worker.gathering``), so
the retry must be ours rather than Celery's ``autoretry_for``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy.exc import OperationalError

from guardq.outbound import ForbiddenDestination
from guardq.queue import (
    BULK,
    BULK_GATHER_MESSAGES,
    BULK_GATHER_QUIET_S,
    BULK_GATHER_WAIT_S,
    MODERATE_BULK,
    MODERATE_REALTIME,
    REALTIME,
    REALTIME_GATHER_INTERVAL_S,
    REALTIME_GATHER_MESSAGES,
    REALTIME_LINGER_S,
    SEND_CALLBACK,
)
from guardq.store.db import get_session_factory, session_scope
from guardq.store.jobs import NewItem, get_job
from guardq.submit import task_payload
from worker.callbacks import CallbackFailed, job_summary, post_summary
from worker.celery_app import app
from worker.gathering import Gathering
from worker.pipeline import BatchReport, record_failures, work_items

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
# Retry delays grow 5, 10, 20 s: enough for a database failover, well under any sane
# visibility timeout (a delayed message is held unacknowledged by the worker meanwhile).
RETRY_BASE_S = 5


@app.task(
    name=MODERATE_BULK,
    base=Gathering,
    queue_name=BULK,
    flush_every=BULK_GATHER_MESSAGES,
    flush_interval=BULK_GATHER_WAIT_S,
    flush_quiet=BULK_GATHER_QUIET_S,
    flush_when_idle=False,
)
def moderate_bulk(requests: Sequence[Any]) -> None:
    # Realtime messages received just before these wait in their own buffer; the solo
    # pool would run this bulk batch first. Run them now instead.
    moderate_realtime.flush_now()
    _run_batch(MODERATE_BULK, [request.kwargs for request in requests], yield_to=_realtime_waiting)


def _realtime_waiting() -> bool:
    # Asked between the engine calls of a bulk batch: the solo pool receives nothing
    # while a batch runs, so a realtime request would wait for the whole gather.
    return moderate_realtime.waiting() > 0


@app.task(
    name=MODERATE_REALTIME,
    base=Gathering,
    queue_name=REALTIME,
    flush_every=REALTIME_GATHER_MESSAGES,
    flush_interval=REALTIME_GATHER_INTERVAL_S,
    linger=REALTIME_LINGER_S,
)
def moderate_realtime(requests: Sequence[Any]) -> None:
    _run_batch(MODERATE_REALTIME, [request.kwargs for request in requests])


def _run_batch(task_name: str, payloads: list[dict[str, Any]], yield_to=None) -> None:
    # Imported here: the callbacks worker registers these tasks but loads no model.
    from worker.runtime import get_runtime

    items = [item for payload in payloads for item in work_items(payload)]
    runtime = get_runtime()
    try:
        report = runtime.process(items, yield_to=yield_to)
    except Exception as exc:
        # Exception type only: an engine or driver message might quote the content.
        log.error("batch of %d item(s) failed: %s", len(items), type(exc).__name__)
        _retry_or_fail(task_name, payloads, exc)
        return
    _log_report(report)
    _send_callbacks(report.callback_jobs)
    if report.deferred:
        _send_again(task_name, report, runtime.model_id)


def _send_again(task_name: str, report: BatchReport, model_id: str) -> None:
    """Queue the items a batch deferred, as new messages of their jobs; before this
    batch's messages are acknowledged, so a crash in between loses nothing (a repeat is
    skipped)."""
    by_job: dict[tuple[uuid.UUID, Any], list] = {}
    for pending in report.deferred:
        by_job.setdefault((pending.job_id, pending.item.mode), []).append(pending.item)
    for (job_id, mode), items in by_job.items():
        app.send_task(
            task_name,
            kwargs=task_payload(
                job_id=job_id,
                mode=mode,
                model_id=model_id,
                item_ids=[item.item_id for item in items],
                items=[NewItem(text=item.text, prompt=item.prompt) for item in items],
            ),
            ignore_result=True,
        )
    log.info("%d item(s) deferred for realtime work, queued again", len(report.deferred))


def _retry_or_fail(task_name: str, payloads: list[dict[str, Any]], exc: Exception) -> None:
    for payload in payloads:
        attempt = payload.get("attempt", 0) + 1
        if attempt < MAX_ATTEMPTS:
            app.send_task(
                task_name,
                kwargs={**payload, "attempt": attempt},
                countdown=RETRY_BASE_S * 2 ** (attempt - 1),
                ignore_result=True,
            )
            continue
        report = record_failures(
            work_items(payload),
            session_factory=get_session_factory(),
            error=f"moderation failed after {attempt} attempts: {type(exc).__name__}",
        )
        _send_callbacks(report.callback_jobs)


def _log_report(report: BatchReport) -> None:
    # Ids and counts only. Tests read these lines to see what the engine ran.
    log.info(
        "batch of %d item(s): %.3f s, %.3f s of it in the engine",
        sum(sum(counts.values()) for counts in report.counts.values()),
        report.total_s,
        report.engine_s,
    )
    for job_id, counts in report.counts.items():
        log.info(
            "job %s: %d inferred, %d from cache, %d decided by term lists, "
            "%d already recorded, %d failed",
            job_id,
            counts["inferred"],
            counts["cached"],
            counts["listed"],
            counts["skipped"],
            counts["failed"],
        )


def _send_callbacks(job_ids: list[uuid.UUID]) -> None:
    """Queue the callbacks of the finished jobs that have one (the store said which, in
    the commit that finished them)."""
    for job_id in job_ids:
        app.send_task(SEND_CALLBACK, kwargs={"job_id": str(job_id)}, ignore_result=True)


@app.task(
    name=SEND_CALLBACK,
    # OperationalError: the store was unreachable, or a pooled connection had died with
    # a restarted server (the pool does not ping); the next try reconnects.
    autoretry_for=(CallbackFailed, httpx.HTTPError, OperationalError),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def send_callback(job_id: str) -> None:
    """POST the finished job's summary to its callback_url (re-read from the store)."""
    with session_scope(get_session_factory()) as session:
        job = get_job(session=session, job_id=uuid.UUID(job_id))
    if job is None or job.callback_url is None:
        return
    try:
        status = post_summary(job.callback_url, job.id, job_summary(job))
    except ForbiddenDestination as exc:
        # Final: the URL passed the check at submit, but its host now leads inside.
        log.warning("job %s: callback refused: %s", job.id, exc)
        return
    log.info("job %s: callback answered %d", job.id, status)
