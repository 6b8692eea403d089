"""Jobs and their items: creation (hashes only), status, progress and results pages."""

from __future__ import annotations

import uuid
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from guardq.hashing import content_sha256, pair_sha256
from guardq.store.dialects import insert_many
from guardq.store.enums import ItemStatus, JobStatus, Priority
from guardq.store.models import REF_LENGTH, Item, Job, VerdictRecord, utcnow
from guardq.store.verdicts import STORED_COLUMNS, StoredVerdict, stored_verdict
from guardq.verdict import Mode

MAX_PAGE = 1000


@dataclass(frozen=True)
class NewItem:
    """One text to moderate. The store keeps its hash, never ``text`` or ``prompt``.

    Response moderation judges ``text`` as the answer to ``prompt``; prompt moderation
    takes no ``prompt``. ``metadata`` is stored as given: producers must not put content
    in it.
    """

    text: str
    prompt: str | None = None
    ref: str | None = None
    metadata: Any = None
    # The author's HMACs (``Settings.author_hashes``: current secret, then previous), never
    # the author id itself.
    author_hashes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreatedItem:
    id: uuid.UUID
    index: int
    content_sha256: str


@dataclass(frozen=True)
class CreatedJob:
    """The ids to enqueue (after commit), with the items in submission order."""

    id: uuid.UUID
    items: tuple[CreatedItem, ...]


@dataclass(frozen=True)
class JobProgress:
    id: uuid.UUID
    mode: Mode
    priority: Priority
    status: JobStatus
    total: int
    done: int
    failed: int
    model_id: str
    callback_url: str | None
    api_key_id: uuid.UUID | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    retain_text: bool = True
    alert_url: str | None = None


@dataclass(frozen=True)
class ItemResult:
    """One row of a job's results; ``verdict`` is None until the item is judged."""

    item_id: uuid.UUID
    index: int
    ref: str | None
    content_sha256: str
    metadata: Any
    status: ItemStatus
    error: str | None
    verdict: StoredVerdict | None


def item_sha256(mode: Mode, item: NewItem) -> str:
    """The content hash of ``item`` in ``mode`` (a response is hashed with its prompt)."""
    return content_sha256(item.text) if mode is Mode.PROMPT else pair_sha256(item.prompt, item.text)


def _check_items(mode: Mode, items: Sequence[NewItem]) -> None:
    if not items:
        raise ValueError("items: a job needs at least one item")
    for index, item in enumerate(items):
        if mode is Mode.RESPONSE and item.prompt is None:
            raise ValueError(f"items[{index}].prompt: required in response mode")
        if mode is Mode.PROMPT and item.prompt is not None:
            raise ValueError(f"items[{index}].prompt: not allowed in prompt mode")
        if item.ref is not None and len(item.ref) > REF_LENGTH:
            raise ValueError(
                f"items[{index}].ref: at most {REF_LENGTH} characters, got {len(item.ref)}"
            )


# Built once, the values passed as parameters: building an INSERT with .values() on
# every request cost ~14% of the API's CPU at 16 concurrent realtime clients.
_INSERT_JOB = insert(Job.__table__)


def create_job(
    *,
    session: Session,
    mode: Mode,
    items: Sequence[NewItem],
    model_id: str,
    priority: Priority = Priority.REALTIME,
    callback_url: str | None = None,
    api_key_id: uuid.UUID | None = None,
    retain_text: bool = True,
    lists: Sequence[str] | None = None,
    alert_url: str | None = None,
) -> CreatedJob:
    """Insert a queued job and its items (hashed here); raises ValueError naming the field.

    ``retain_text`` False: an escalated item of this job keeps no text for reviewers.
    ``lists``: the job-scoped term lists the worker matches this job's items against.
    ``alert_url``: where its blocked items' events go (``guardq.alerts``).
    """
    _check_items(mode, items)
    job_id = uuid.uuid4()
    # Core inserts on the tables: the ORM's bulk machinery costs more CPU than the rows.
    session.execute(
        _INSERT_JOB,
        {
            "id": job_id,
            "mode": mode,
            "priority": priority,
            "total": len(items),
            "callback_url": callback_url,
            "model_id": model_id,
            "api_key_id": api_key_id,
            "retain_text": retain_text,
            "lists": list(lists) if lists else None,
            "alert_url": alert_url,
        },
    )
    created = tuple(
        CreatedItem(id=uuid.uuid4(), index=index, content_sha256=item_sha256(mode, item))
        for index, item in enumerate(items)
    )
    insert_many(
        session,
        Item,
        [
            {
                "id": row.id,
                "job_id": job_id,
                "index": row.index,
                "ref": item.ref,
                "content_sha256": row.content_sha256,
                "metadata": item.metadata,
                "author_hash": item.author_hashes[0] if item.author_hashes else None,
                "author_hash_previous": (
                    item.author_hashes[1] if len(item.author_hashes) > 1 else None
                ),
            }
            for row, item in zip(created, items, strict=True)
        ],
    )
    return CreatedJob(id=job_id, items=created)


def mark_job_running(*, session: Session, job_id: uuid.UUID) -> bool:
    """queued -> running; False when the job had already moved on."""
    return _transition(session, job_id, [JobStatus.QUEUED], status=JobStatus.RUNNING)


def mark_job_done(*, session: Session, job_id: uuid.UUID) -> bool:
    """Close a job whose items all have an outcome; False when some are still queued.

    ``record_verdict`` already does this when the last item lands; this is for sweeps
    that recover jobs, and is a no-op on a job already done.
    """
    return _transition(
        session,
        job_id,
        [JobStatus.QUEUED, JobStatus.RUNNING],
        Job.done + Job.failed >= Job.total,
        status=JobStatus.DONE,
        finished_at=utcnow(),
    )


def mark_job_failed(*, session: Session, job_id: uuid.UUID, error: str) -> bool:
    """Fail a job that cannot proceed (e.g. its tasks could not be enqueued)."""
    return _transition(
        session,
        job_id,
        [JobStatus.QUEUED, JobStatus.RUNNING],
        status=JobStatus.FAILED,
        error=error,
        finished_at=utcnow(),
    )


def _transition(session: Session, job_id: uuid.UUID, allowed, *conditions, **values) -> bool:
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(allowed), *conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def get_job(*, session: Session, job_id: uuid.UUID) -> JobProgress | None:
    """The job's status and counters, or None for an unknown id."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        return None
    return JobProgress(
        id=job.id,
        mode=job.mode,
        priority=job.priority,
        status=job.status,
        total=job.total,
        done=job.done,
        failed=job.failed,
        model_id=job.model_id,
        callback_url=job.callback_url,
        api_key_id=job.api_key_id,
        error=job.error,
        created_at=job.created_at,
        updated_at=job.updated_at,
        finished_at=job.finished_at,
        retain_text=job.retain_text,
        alert_url=job.alert_url,
    )


def list_results(
    *,
    session: Session,
    job_id: uuid.UUID,
    after_index: int = -1,
    limit: int = 100,
) -> list[ItemResult]:
    """The job's items with index > ``after_index``, in index order, at most ``limit``.

    Pass the last index of one page as ``after_index`` to get the next (keyset paging on
    the (job_id, index) unique index: every page costs the same).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    query = (
        select(*_RESULT_ITEM, *_RESULT_VERDICT)
        .outerjoin(VerdictRecord, VerdictRecord.item_id == Item.id)
        .where(Item.job_id == job_id, Item.index > after_index)
        .order_by(Item.index)
        .limit(limit)
    )
    return [
        ItemResult(
            item_id=row[0],
            index=row[1],
            ref=row[2],
            content_sha256=row[3],
            metadata=row[4],
            status=row[5],
            error=row[6],
            verdict=stored_verdict(_Verdict._make(row[7:])) if row[7] is not None else None,
        )
        for row in session.execute(query)
    ]


# Plain columns, not ORM entities: a results page is read once and thrown away, and
# loading entities (identity map, instance state) took 2.6x as long (5,000 results:
# 204 against 79 ms), most of reading a big job back (``guardq label``, ``/results``).
_RESULT_ITEM = (
    Item.id,
    Item.index,
    Item.ref,
    Item.content_sha256,
    Item.meta,
    Item.status,
    Item.error,
)
_RESULT_VERDICT = tuple(VerdictRecord.__table__.c[name] for name in STORED_COLUMNS)


# A verdict row's ``STORED_COLUMNS``, by name, for ``stored_verdict``.
_Verdict = namedtuple("_Verdict", STORED_COLUMNS)
