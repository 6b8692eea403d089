"""Recording an item's outcome (its verdict, or its failure) exactly once.

Tasks run at least once (``task_acks_late``): a redelivered task calls
``record_verdict`` again for the same item. UNIQUE(verdicts.item_id) with
``ON CONFLICT DO NOTHING`` lets the database pick one writer, and only that writer moves
the item's status, the job's counters and opens the escalation, in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from guardq.policy import Action, Decision
from guardq.store.dialects import insert_ignoring_duplicates
from guardq.store.enums import ItemStatus, JobStatus
from guardq.store.escalations import create_escalation
from guardq.store.models import Item, Job, VerdictRecord, utcnow
from guardq.verdict import Category, Severity, SeverityScores, Span, Verdict


@dataclass(frozen=True)
class RecordOutcome:
    """What one call to ``record_verdict`` / ``record_item_failure`` changed.

    ``inserted``: this call wrote the outcome (False: it was already recorded).
    ``job_finished``: this call completed the job; exactly one call per job sees True,
    which makes it the one to send the job's callback.
    """

    inserted: bool
    job_finished: bool = False
    escalation_id: uuid.UUID | None = None


@dataclass(frozen=True)
class StoredVerdict:
    """A recorded verdict with the policy's decision, as the API and exports read it."""

    severity: Severity | None
    categories: tuple[Category, ...]
    refusal: bool | None
    scores: SeverityScores | None
    span: Span | None
    action: Action
    reason: str
    model_id: str
    model_revision: str | None
    chunk_count: int
    latency_ms: int | None
    served_from_cache: bool
    error: str | None
    created_at: datetime


def record_verdict(
    *,
    session: Session,
    item_id: uuid.UUID,
    verdict: Verdict,
    decision: Decision,
    model_id: str,
    model_revision: str | None = None,
    latency_ms: int | None = None,
    served_from_cache: bool = False,
    chunk_count: int | None = None,
    review_text: str | None = None,
    review_prompt: str | None = None,
) -> RecordOutcome:
    """Store ``verdict`` and ``decision`` for ``item_id``, once; safe to call again.

    ``chunk_count`` defaults to the verdict's chunk verdicts (1 when it has none); pass it
    for a verdict rebuilt from the cache. ``review_text`` (and a response's
    ``review_prompt``) is kept only when the decision escalates the item to a reviewer,
    and dropped otherwise. Raises LookupError for an
    unknown item.

    The job's row stays locked until commit: record a batch in one transaction only in
    (job id, item id) order, or one transaction per item, so two batches cannot deadlock.
    """
    item = session.execute(
        select(Item.job_id, Item.content_sha256).where(Item.id == item_id)
    ).first()
    if item is None:
        raise LookupError(f"item {item_id} does not exist")

    verdict_id = uuid.uuid4()
    scores, span = verdict.scores, verdict.span
    values = dict(
        id=verdict_id,
        item_id=item_id,
        content_sha256=item.content_sha256,
        severity=verdict.severity,
        categories=[category.value for category in verdict.categories],
        refusal=verdict.refusal,
        prob_safe=scores.safe if scores else None,
        prob_controversial=scores.controversial if scores else None,
        prob_unsafe=scores.unsafe if scores else None,
        action=decision.action,
        reason=decision.reason,
        model_id=model_id,
        model_revision=model_revision,
        chunk_count=chunk_count if chunk_count is not None else max(1, len(verdict.chunks)),
        span_start=span.start if span else None,
        span_end=span.end if span else None,
        latency_ms=latency_ms,
        served_from_cache=served_from_cache,
        error=verdict.error,
    )
    if not insert_ignoring_duplicates(session, VerdictRecord, values, "item_id"):
        return RecordOutcome(inserted=False)

    escalation_id = None
    if decision.escalates:
        escalation_id = create_escalation(
            session=session,
            item_id=item_id,
            verdict_id=verdict_id,
            reason=decision.reason,
            retained_text=review_text,
            retained_prompt=review_prompt,
        )
    _, job_finished = _settle_item(session, item_id, item.job_id, ItemStatus.DONE, None)
    return RecordOutcome(inserted=True, job_finished=job_finished, escalation_id=escalation_id)


def record_item_failure(*, session: Session, item_id: uuid.UUID, error: str) -> RecordOutcome:
    """Mark a still-queued item failed (``error`` must not quote the content).

    An item that already has a verdict stays done; a later verdict for a failed item
    (a retry that succeeded) turns it done and moves it between the job's counters.
    """
    job_id = session.scalar(select(Item.job_id).where(Item.id == item_id))
    if job_id is None:
        raise LookupError(f"item {item_id} does not exist")
    if session.scalar(select(VerdictRecord.id).where(VerdictRecord.item_id == item_id)):
        return RecordOutcome(inserted=False)
    counted, job_finished = _settle_item(session, item_id, job_id, ItemStatus.FAILED, error)
    return RecordOutcome(inserted=counted, job_finished=job_finished)


def _settle_item(
    session: Session,
    item_id: uuid.UUID,
    job_id: uuid.UUID,
    status: ItemStatus,
    error: str | None,
) -> tuple[bool, bool]:
    """Move the item to ``status`` and count it on its job: (counted, finished the job).

    Each UPDATE is conditional on the row's current state and takes its row lock, so two
    transactions settling items of one job serialise on the job row and count once each.
    """
    moved = session.execute(
        update(Item)
        .where(Item.id == item_id, Item.status == ItemStatus.QUEUED)
        .values(status=status, error=error)
        .execution_options(synchronize_session=False)
    ).rowcount
    done_delta = failed_delta = 0
    if moved:
        done_delta, failed_delta = (1, 0) if status is ItemStatus.DONE else (0, 1)
    elif status is ItemStatus.DONE:
        retried = session.execute(
            update(Item)
            .where(Item.id == item_id, Item.status == ItemStatus.FAILED)
            .values(status=status, error=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if retried:
            done_delta, failed_delta = 1, -1
    if not (done_delta or failed_delta):
        return False, False

    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(done=Job.done + done_delta, failed=Job.failed + failed_delta)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
        .values(status=JobStatus.RUNNING)
        .execution_options(synchronize_session=False)
    )
    return True, _finish_if_complete(session, job_id)


def _finish_if_complete(session: Session, job_id: uuid.UUID) -> bool:
    finished = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
            Job.done + Job.failed >= Job.total,
        )
        .values(status=JobStatus.DONE, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    return finished == 1


def get_verdict(*, session: Session, item_id: uuid.UUID) -> StoredVerdict | None:
    """The recorded verdict of ``item_id``, or None while it has none."""
    row = session.scalar(select(VerdictRecord).where(VerdictRecord.item_id == item_id))
    return stored_verdict(row) if row else None


def stored_verdict(row: VerdictRecord) -> StoredVerdict:
    """The plain value of a verdict row (for the store's other query modules)."""
    probabilities = (row.prob_safe, row.prob_controversial, row.prob_unsafe)
    return StoredVerdict(
        severity=row.severity,
        categories=tuple(Category(name) for name in row.categories),
        refusal=row.refusal,
        scores=SeverityScores(*probabilities) if None not in probabilities else None,
        span=Span(row.span_start, row.span_end) if row.span_start is not None else None,
        action=row.action,
        reason=row.reason,
        model_id=row.model_id,
        model_revision=row.model_revision,
        chunk_count=row.chunk_count,
        latency_ms=row.latency_ms,
        served_from_cache=row.served_from_cache,
        error=row.error,
        created_at=row.created_at,
    )
