"""Recording items' outcomes (verdicts, or failures) exactly once, a batch at a time.

Tasks run at least once (``task_acks_late``): a redelivered task records the same items
again. UNIQUE(verdicts.item_id) with ``ON CONFLICT DO NOTHING`` lets the database pick
one writer, and only that writer moves the item's status, the job's counters and opens
the escalation, in the same transaction. ``record_outcomes`` does it for a whole batch
in a few statements; ``record_verdict`` and ``record_item_failure`` are its one-item
forms.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import (
    Integer,
    Uuid,
    and_,
    bindparam,
    case,
    func,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from guardq.policy import Action, Decision
from guardq.store.dialects import ROWS_PER_STATEMENT as _ROWS_PER_STATEMENT
from guardq.store.dialects import insert_returning
from guardq.store.enums import ItemStatus, JobStatus
from guardq.store.escalations import NewEscalation, open_escalations
from guardq.store.models import Item, Job, UTCDateTime, VerdictRecord, utcnow
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
    list_hits: list[dict] | None = None


@dataclass(frozen=True)
class NewVerdict:
    """One item's verdict to record, with the policy's decision on it.

    ``chunk_count`` defaults to the verdict's chunk verdicts (1 when it has none); pass it
    for a verdict rebuilt from the cache. ``review_text`` (and a response's
    ``review_prompt``) is kept only when the decision escalates the item to a reviewer,
    and dropped otherwise.
    """

    item_id: uuid.UUID
    verdict: Verdict
    decision: Decision
    model_id: str
    model_revision: str | None = None
    latency_ms: int | None = None
    served_from_cache: bool = False
    chunk_count: int | None = None
    review_text: str | None = None
    review_prompt: str | None = None
    # Term-list hits (``guardq.screening``): list, entry id, span; never the matched text.
    list_hits: list[dict] | None = None


@dataclass(frozen=True)
class ItemFailure:
    """An item that could not be judged; ``error`` must not quote its content."""

    item_id: uuid.UUID
    error: str


@dataclass
class BatchOutcome:
    """What one ``record_outcomes`` call changed.

    ``recorded``: the items whose outcome this call wrote (the others already had one).
    ``finished_jobs``: the jobs this call completed; exactly one call per job finishes it,
    which makes it the one to send the job's callback (``callback_jobs``: those of them
    that have a callback URL). ``escalations``: item -> the
    escalation this call opened. ``jobs``: item -> its job, for every item named.
    """

    recorded: set[uuid.UUID] = field(default_factory=set)
    finished_jobs: list[uuid.UUID] = field(default_factory=list)
    callback_jobs: list[uuid.UUID] = field(default_factory=list)
    escalations: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    jobs: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)


def record_outcomes(
    *,
    session: Session,
    verdicts: Sequence[NewVerdict] = (),
    failures: Sequence[ItemFailure] = (),
    known: Mapping[uuid.UUID, tuple[uuid.UUID, str]] | None = None,
) -> BatchOutcome:
    """Record a batch of verdicts and failures, each item's outcome once; safe to repeat.

    A few statements per batch whatever its size: the jobs' rows locked in id order,
    one INSERT ... ON CONFLICT DO NOTHING RETURNING for the verdicts (the unique index
    on ``item_id`` picks one writer, RETURNING says which went in; on Postgres the
    whole batch in one statement, ``guardq.store.dialects``), one for the escalations
    and their trail rows, an UPDATE of the items per outcome, and one counter UPDATE
    for the batch's jobs. A verdict for an
    item that had failed (a retry that succeeded) turns it done and moves it between
    the job's counters; a failure never overwrites a verdict. Raises LookupError for an
    unknown item.

    ``known``: item -> (its job, its content hash), as the caller read them from the
    store already (the worker, which checked the message against them) or wrote them
    itself (the submission); it saves reading the items again.

    Locking every job of the batch first, in id order, is what keeps two batches that
    touch the same jobs from deadlocking: whoever holds a job's row writes its items.
    """
    outcome = BatchOutcome()
    named = [v.item_id for v in verdicts] + [f.item_id for f in failures]
    if not named:
        return outcome
    if known is None or any(item_id not in known for item_id in named):
        rows = session.execute(
            select(Item.id, Item.job_id, Item.content_sha256).where(Item.id.in_(named))
        ).all()
        known = {row.id: (row.job_id, row.content_sha256) for row in rows}
    hashes = {item_id: known[item_id][1] for item_id in named if item_id in known}
    outcome.jobs = {item_id: known[item_id][0] for item_id in hashes}
    unknown = [item_id for item_id in named if item_id not in hashes]
    if unknown:
        raise LookupError(f"item {unknown[0]} does not exist")
    _lock_jobs(session, sorted(set(outcome.jobs.values())))

    # One verdict per item even when a batch names an item twice: the first stands.
    verdicts = list({v.item_id: v for v in reversed(verdicts)}.values())[::-1]
    ids = {v.item_id: uuid.uuid4() for v in verdicts}
    rows = {v.item_id: _verdict_values(v, ids[v.item_id], hashes[v.item_id]) for v in verdicts}
    inserted = insert_returning(
        session,
        VerdictRecord,
        [rows[i] for i in sorted(ids)],
        conflict="item_id",
        returning=VerdictRecord.item_id,
    )
    escalating = [v for v in verdicts if v.item_id in inserted and v.decision.escalates]
    outcome.escalations = open_escalations(
        session=session,
        rows=[
            NewEscalation(
                item_id=v.item_id,
                verdict_id=ids[v.item_id],
                reason=v.decision.reason,
                retained_text=v.review_text,
                retained_prompt=v.review_prompt,
                decisions=v.decision.decisions,
                due_in=v.decision.due_in,
            )
            for v in escalating
        ],
    )
    counts: dict[uuid.UUID, list[int]] = {}  # job -> [done delta, failed delta]
    queued = _move_items(session, inserted, ItemStatus.QUEUED, ItemStatus.DONE)
    for item_id in queued:
        counts.setdefault(outcome.jobs[item_id], [0, 0])[0] += 1
    # Only an item that was not queued can have failed before (a retry that succeeded).
    for item_id in _move_items(session, inserted - queued, ItemStatus.FAILED, ItemStatus.DONE):
        delta = counts.setdefault(outcome.jobs[item_id], [0, 0])
        delta[0] += 1
        delta[1] -= 1
    failing = [f for f in failures if f.item_id not in ids]
    by_error: dict[str, set[uuid.UUID]] = {}
    for failure in failing:
        by_error.setdefault(failure.error, set()).add(failure.item_id)
    failed: set[uuid.UUID] = set()
    for error, item_ids in by_error.items():
        moved = _move_items(session, item_ids, ItemStatus.QUEUED, ItemStatus.FAILED, error)
        for item_id in moved:
            counts.setdefault(outcome.jobs[item_id], [0, 0])[1] += 1
        failed |= moved
    outcome.recorded = inserted | failed
    for job_id, has_callback in _count_on_jobs(session, counts):
        outcome.finished_jobs.append(job_id)
        if has_callback:
            outcome.callback_jobs.append(job_id)
    return outcome


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
    """``record_outcomes`` for one verdict (see ``NewVerdict`` for the arguments)."""
    outcome = record_outcomes(
        session=session,
        verdicts=[
            NewVerdict(
                item_id=item_id,
                verdict=verdict,
                decision=decision,
                model_id=model_id,
                model_revision=model_revision,
                latency_ms=latency_ms,
                served_from_cache=served_from_cache,
                chunk_count=chunk_count,
                review_text=review_text,
                review_prompt=review_prompt,
            )
        ],
    )
    return _one(outcome, item_id)


def record_item_failure(*, session: Session, item_id: uuid.UUID, error: str) -> RecordOutcome:
    """``record_outcomes`` for one failure: a still-queued item turns failed.

    An item that already has a verdict stays done; a later verdict for a failed item
    (a retry that succeeded) turns it done and moves it between the job's counters.
    """
    outcome = record_outcomes(session=session, failures=[ItemFailure(item_id, error)])
    return _one(outcome, item_id)


def _one(outcome: BatchOutcome, item_id: uuid.UUID) -> RecordOutcome:
    return RecordOutcome(
        inserted=item_id in outcome.recorded,
        job_finished=bool(outcome.finished_jobs),
        escalation_id=outcome.escalations.get(item_id),
    )


def _verdict_values(v: NewVerdict, verdict_id: uuid.UUID, sha256: str) -> dict:
    verdict = v.verdict
    scores, span = verdict.scores, verdict.span
    return dict(
        id=verdict_id,
        item_id=v.item_id,
        content_sha256=sha256,
        severity=verdict.severity,
        categories=[category.value for category in verdict.categories],
        refusal=verdict.refusal,
        prob_safe=scores.safe if scores else None,
        prob_controversial=scores.controversial if scores else None,
        prob_unsafe=scores.unsafe if scores else None,
        action=v.decision.action,
        reason=v.decision.reason,
        model_id=v.model_id,
        model_revision=v.model_revision,
        chunk_count=v.chunk_count if v.chunk_count is not None else max(1, len(verdict.chunks)),
        span_start=span.start if span else None,
        span_end=span.end if span else None,
        latency_ms=v.latency_ms,
        served_from_cache=v.served_from_cache,
        error=verdict.error,
        list_hits=v.list_hits,
        created_at=utcnow(),
    )


# The hot statements below run on the Core tables, not the ORM entities: the ORM's
# bulk-update machinery cost more CPU than the statements themselves.
_jobs = Job.__table__.c
_items = Item.__table__.c


def _lock_jobs(session: Session, job_ids: list[uuid.UUID]) -> None:
    # SQLite has no row locks (one writer at a time holds the whole file).
    postgres = session.get_bind().dialect.name == "postgresql"
    session.execute(_LOCK_JOBS if postgres else _READ_JOBS, {"ids": job_ids}).all()


def _move_items(
    session: Session,
    item_ids: set[uuid.UUID],
    before: ItemStatus,
    after: ItemStatus,
    error: str | None = None,
) -> set[uuid.UUID]:
    """Items of ``item_ids`` moved from ``before`` to ``after``: conditional on the row's
    state, so a second writer moves (and so counts) nothing."""
    moved: set[uuid.UUID] = set()
    ordered = sorted(item_ids)  # row locks in one order, whoever writes
    for start in range(0, len(ordered), _ROWS_PER_STATEMENT):
        parameters = {
            "ids": ordered[start : start + _ROWS_PER_STATEMENT],
            "before": before,
            "after": after,
            "error": error,
            "now": utcnow(),
        }
        moved.update(session.scalars(_MOVE_ITEMS, parameters))
    return moved


# The batch's statements that do not depend on its size are built once, their values
# passed as parameters (lists as expanding ones): building them per batch cost a share of
# every realtime call.
_READ_JOBS = (
    select(_jobs.id).where(_jobs.id.in_(bindparam("ids", expanding=True))).order_by(_jobs.id)
)
_LOCK_JOBS = _READ_JOBS.with_for_update()
_MOVE_ITEMS = (
    update(Item.__table__)
    .where(_items.id.in_(bindparam("ids", expanding=True)))
    .where(_items.status == bindparam("before"))
    .values(status=bindparam("after"), error=bindparam("error"), updated_at=bindparam("now"))
    .returning(_items.id)
)


# Jobs one counter statement takes; a batch over more jobs (bulk work of many small
# jobs) takes one statement per this many.
_JOBS_PER_COUNT = 32


def _count_on_jobs(
    session: Session, counts: Mapping[uuid.UUID, list[int]]
) -> list[tuple[uuid.UUID, bool]]:
    """Add each job's [done, failed] deltas to its counters in one UPDATE ... FROM
    (the deltas as rows), moving it to running, or to done when this completes it; the jobs
    this call finished (in id order), each with whether it has a callback URL.

    One statement for up to ``_JOBS_PER_COUNT`` jobs: a realtime batch holds up to one
    job per request, and a statement each was a round trip each. Counters only grow
    towards ``total``, so exactly one update crosses it: the one whose total before its
    own deltas (the new one less them) was short of it. That is worked out here rather
    than in RETURNING, where SQLite may not name the deltas' CTE.
    """
    ordered = sorted(counts.items())
    finished = []
    for start in range(0, len(ordered), _JOBS_PER_COUNT):
        part = ordered[start : start + _JOBS_PER_COUNT]
        parameters: dict[str, object] = {"now": utcnow()}
        for row, (job_id, (done, failed)) in enumerate(part):
            parameters.update({f"job_{row}": job_id, f"done_{row}": done, f"failed_{row}": failed})
        for job_id, job_status, counted, total, callback_url in session.execute(
            _count_statement(len(part)), parameters
        ):
            before = counted - sum(counts[job_id])
            if job_status == JobStatus.DONE and before < total:
                finished.append((job_id, callback_url is not None))
    return sorted(finished)


@cache
def _count_statement(rows: int):
    # Built once per number of jobs, of bound parameters only: the same statement
    # object keeps its cache key, so SQLAlchemy compiles it once, not per batch.
    # SELECT ... UNION ALL SELECT ... rather than VALUES: SQLAlchemy caches no VALUES
    # statement, and SQLite would name its columns column1, column2...
    deltas = union_all(
        *(
            select(
                bindparam(f"job_{row}", type_=Uuid).label("job_id"),
                bindparam(f"done_{row}", type_=Integer).label("done_delta"),
                bindparam(f"failed_{row}", type_=Integer).label("failed_delta"),
            )
            for row in range(rows)
        )
    ).cte("deltas")
    now = bindparam("now", type_=UTCDateTime())
    complete = (
        _jobs.done + deltas.c.done_delta + _jobs.failed + deltas.c.failed_delta >= _jobs.total
    )
    return (
        update(Job.__table__)
        .where(_jobs.id == deltas.c.job_id)
        .values(
            done=_jobs.done + deltas.c.done_delta,
            failed=_jobs.failed + deltas.c.failed_delta,
            status=case(
                (
                    and_(complete, _jobs.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])),
                    JobStatus.DONE,
                ),
                (_jobs.status == JobStatus.QUEUED, JobStatus.RUNNING),
                else_=_jobs.status,
            ),
            finished_at=case(
                (complete, func.coalesce(_jobs.finished_at, now)), else_=_jobs.finished_at
            ),
            updated_at=now,
        )
        .returning(
            _jobs.id, _jobs.status, _jobs.done + _jobs.failed, _jobs.total, _jobs.callback_url
        )
    )


def get_verdict(*, session: Session, item_id: uuid.UUID) -> StoredVerdict | None:
    """The recorded verdict of ``item_id``, or None while it has none."""
    row = session.scalar(select(VerdictRecord).where(VerdictRecord.item_id == item_id))
    return stored_verdict(row) if row else None


# The verdict columns ``stored_verdict`` reads (and ``id``, to tell a row from none).
STORED_COLUMNS = (
    "id",
    "severity",
    "categories",
    "refusal",
    "prob_safe",
    "prob_controversial",
    "prob_unsafe",
    "span_start",
    "span_end",
    "action",
    "reason",
    "model_id",
    "model_revision",
    "chunk_count",
    "latency_ms",
    "served_from_cache",
    "error",
    "created_at",
    "list_hits",
)


def stored_verdict(row) -> StoredVerdict:
    """The plain value of a verdict row: a ``VerdictRecord``, or any row with its
    ``STORED_COLUMNS`` (for the store's other query modules)."""
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
        list_hits=row.list_hits,
    )
