"""Batches of the Batch API: their rows, life cycle, parts (bulk jobs) and line errors.

A batch's input is cut into parts of about ``GUARDQ_BATCH_PART_ITEMS`` items, each a
bulk job linked here by (batch, first line, mode); ``lines_read`` records how far the
input has been turned into parts and error rows, so a redelivered run resumes there and
submits no part twice. Status changes are conditional updates on the batch's row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from guardq.store.dialects import insert_returning
from guardq.store.enums import BatchStatus, ItemStatus, JobStatus
from guardq.store.models import BatchJob, BatchLineError, BatchRecord, Item, Job, utcnow
from guardq.store.verdicts import ItemFailure, record_outcomes
from guardq.verdict import Mode

COMPLETION_WINDOW = timedelta(hours=24)
TERMINAL = (BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED)


@dataclass(frozen=True)
class BatchInfo:
    id: uuid.UUID
    api_key_id: uuid.UUID | None
    endpoint: str
    completion_window: str
    metadata: dict[str, str] | None
    model_id: str
    status: BatchStatus
    input_file_id: uuid.UUID
    keep_input_file: bool
    output_file_id: uuid.UUID | None
    error_file_id: uuid.UUID | None
    total: int | None
    completed: int
    failed: int
    lines_read: int
    errors: list[dict[str, Any]] | None
    created_at: datetime
    expires_at: datetime
    in_progress_at: datetime | None
    finalizing_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None
    expired_at: datetime | None
    cancelling_at: datetime | None
    cancelled_at: datetime | None


@dataclass(frozen=True)
class LineError:
    """Why input line ``line`` (1-based) did not run; never quotes the line's content."""

    line: int
    custom_id: str | None
    code: str
    message: str
    param: str | None = None


@dataclass(frozen=True)
class BatchPart:
    job_id: uuid.UUID
    first_line: int
    mode: Mode
    lines: int
    status: JobStatus
    error: str | None


_COLUMNS = [name for name in BatchInfo.__dataclass_fields__ if name != "metadata"]


def _info(row: BatchRecord) -> BatchInfo:
    return BatchInfo(
        **{name: getattr(row, name) for name in _COLUMNS},
        metadata=row.meta,
    )


def create_batch(
    *,
    session: Session,
    api_key_id: uuid.UUID | None,
    endpoint: str,
    completion_window: str,
    metadata: dict[str, str] | None,
    model_id: str,
    input_file_id: uuid.UUID,
    keep_input_file: bool,
    total: int | None = None,
) -> BatchInfo:
    """A validating batch; ``total``: the requests its input holds, as counted at upload."""
    now = utcnow()
    row = BatchRecord(
        api_key_id=api_key_id,
        endpoint=endpoint,
        completion_window=completion_window,
        meta=metadata,
        model_id=model_id,
        status=BatchStatus.VALIDATING,
        input_file_id=input_file_id,
        keep_input_file=keep_input_file,
        total=total,
        completed=0,
        failed=0,
        lines_read=0,
        created_at=now,
        expires_at=now + COMPLETION_WINDOW,
    )
    session.add(row)
    session.flush()
    return _info(row)


def get_batch(*, session: Session, batch_id: uuid.UUID, lock: bool = False) -> BatchInfo | None:
    """The batch, or None; ``lock``: hold its row until the transaction ends (Postgres)."""
    query = select(BatchRecord).where(BatchRecord.id == batch_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.scalars(query.execution_options(populate_existing=True)).first()
    return _info(row) if row is not None else None


def list_batches(
    *, session: Session, api_key_id: uuid.UUID | None, after: uuid.UUID | None, limit: int
) -> tuple[list[BatchInfo], bool]:
    """Newest first, ``limit`` at most, after the batch ``after``; and whether more follow.
    ``api_key_id`` None lists every key's batches (an admin)."""
    query = select(BatchRecord)
    if api_key_id is not None:
        query = query.where(BatchRecord.api_key_id == api_key_id)
    if after is not None:
        anchor = session.get(BatchRecord, after)
        if anchor is not None:
            query = query.where(
                or_(
                    BatchRecord.created_at < anchor.created_at,
                    and_(BatchRecord.created_at == anchor.created_at, BatchRecord.id < anchor.id),
                )
            )
    rows = session.scalars(
        query.order_by(BatchRecord.created_at.desc(), BatchRecord.id.desc()).limit(limit + 1)
    ).all()
    return [_info(row) for row in rows[:limit]], len(rows) > limit


def transition(
    *, session: Session, batch_id: uuid.UUID, allowed: Sequence[BatchStatus], **values: Any
) -> bool:
    """Update the batch if its status is one of ``allowed``; whether it was."""
    result = session.execute(
        update(BatchRecord.__table__)
        .where(BatchRecord.__table__.c.id == batch_id, BatchRecord.__table__.c.status.in_(allowed))
        .values(**values)
    )
    return result.rowcount == 1


def batches_reading(*, session: Session, file_id: uuid.UUID) -> list[uuid.UUID]:
    """Batches still reading ``file_id`` as their input (it must not be deleted)."""
    return list(
        session.scalars(
            select(BatchRecord.id).where(
                BatchRecord.input_file_id == file_id,
                BatchRecord.status == BatchStatus.VALIDATING,
            )
        )
    )


def link_part(
    *, session: Session, batch_id: uuid.UUID, job_id: uuid.UUID, first_line: int, mode: Mode,
    lines: int,
) -> None:  # fmt: skip
    session.execute(
        insert(BatchJob.__table__).values(
            batch_id=batch_id, job_id=job_id, first_line=first_line, mode=mode, lines=lines
        )
    )


def parts_from(*, session: Session, batch_id: uuid.UUID, first_line: int) -> set[Mode]:
    """The modes already submitted for the part starting at ``first_line``."""
    return set(
        session.scalars(
            select(BatchJob.mode).where(
                BatchJob.batch_id == batch_id, BatchJob.first_line == first_line
            )
        )
    )


def add_line_errors(*, session: Session, batch_id: uuid.UUID, errors: Sequence[LineError]) -> None:
    if not errors:
        return
    insert_returning(
        session,
        BatchLineError,
        [
            {
                "batch_id": batch_id,
                "line": e.line,
                "custom_id": e.custom_id,
                "code": e.code,
                "message": e.message,
                "param": e.param,
            }
            for e in errors
        ],
        conflict=("batch_id", "line"),
        returning=BatchLineError.line,
    )


def list_parts(*, session: Session, batch_id: uuid.UUID) -> list[BatchPart]:
    """The batch's parts in input order, with their jobs' states."""
    rows = session.execute(
        select(BatchJob.job_id, BatchJob.first_line, BatchJob.mode, BatchJob.lines, Job.status,
               Job.error)
        .join(Job, Job.id == BatchJob.job_id)
        .where(BatchJob.batch_id == batch_id)
        .order_by(BatchJob.first_line, BatchJob.mode)
    )  # fmt: skip
    return [BatchPart(*row) for row in rows]


def list_line_errors(
    *, session: Session, batch_id: uuid.UUID, after_line: int, limit: int
) -> list[LineError]:
    rows = session.scalars(
        select(BatchLineError)
        .where(BatchLineError.batch_id == batch_id, BatchLineError.line > after_line)
        .order_by(BatchLineError.line)
        .limit(limit)
    )
    return [LineError(r.line, r.custom_id, r.code, r.message, r.param) for r in rows]


def live_counts(*, session: Session, batch_id: uuid.UUID) -> tuple[int, int]:
    """(completed, failed) requests while the batch runs: lines of finished parts, and
    lines refused; exact once the batch has ended (the batch row has them then)."""
    failed = session.scalar(select(func.count()).where(BatchLineError.batch_id == batch_id))
    completed = session.scalar(
        select(func.coalesce(func.sum(BatchJob.lines), 0))
        .join(Job, Job.id == BatchJob.job_id)
        .where(BatchJob.batch_id == batch_id, Job.status.in_([JobStatus.DONE, JobStatus.FAILED]))
    )
    return int(completed or 0), int(failed or 0)


def fail_unjudged(*, session: Session, batch_id: uuid.UUID, error: str, chunk: int = 2000) -> int:
    """Mark the batch's still-queued items failed with ``error`` (its jobs then finish);
    how many. A worker that judges one of them later still records its verdict (the
    store turns a failed item done), but the batch's files are written by then."""
    item_ids = list(
        session.scalars(
            select(Item.id)
            .join(BatchJob, BatchJob.job_id == Item.job_id)
            .where(BatchJob.batch_id == batch_id, Item.status == ItemStatus.QUEUED)
        )
    )
    failed = 0
    for start in range(0, len(item_ids), chunk):
        outcome = record_outcomes(
            session=session,
            failures=[ItemFailure(item_id, error) for item_id in item_ids[start : start + chunk]],
        )
        failed += len(outcome.recorded)
    return failed
