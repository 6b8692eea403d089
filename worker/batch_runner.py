"""Running a Batch API batch: ``advance`` moves it along its life cycle, one step per
call; the task ``guardq.run_batch`` (``worker.batches``, on the model-free callbacks
worker) calls it, and calls it again later while the batch runs.

- **validating**: the input file is read a chunk at a time and a line at a time
  (``api.batch_lines``); valid lines are gathered into parts of about
  ``GUARDQ_BATCH_PART_ITEMS`` items, each submitted as a bulk job (``guardq.submit``:
  the verdict cache answers what it knows, the rest goes to the workers), and refused
  lines become error rows. Each part is linked to the batch in the transaction that
  creates its job, and ``lines_read`` moves past it afterwards, so a redelivered task
  resumes where the last one stopped and submits no part twice. Then in_progress.
- **in_progress**: when every part's job has finished, finalizing; past the completion
  window, the items not yet judged fail as ``batch_expired``; otherwise the task checks
  again later (a countdown growing to ``MAX_POLL_S``).
- **finalizing** / **cancelling** / expiry: the output and error files are written
  from the store in one transaction with the final status (a crash writes them again);
  the input file is then deleted unless the batch keeps it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from api.batch_lines import MAX_LINE_BYTES, LineWork, parse_line
from api.batch_output import BATCH_CANCELLED, BATCH_EXPIRED, refused_line, result_line
from api.openai_compat import public_model_name
from guardq.queue import RUN_BATCH
from guardq.settings import Settings
from guardq.store.batches import (
    TERMINAL,
    BatchInfo,
    LineError,
    add_line_errors,
    batches_reading,
    fail_unjudged,
    get_batch,
    link_part,
    list_line_errors,
    list_parts,
    parts_from,
    transition,
)
from guardq.store.db import session_scope
from guardq.store.enums import BatchStatus, FilePurpose, JobStatus, Priority
from guardq.store.files import CHUNK_BYTES, delete_file, read_lines, write_file
from guardq.store.jobs import MAX_PAGE, CreatedJob, ItemResult, list_results
from guardq.store.models import utcnow
from guardq.submit import EnqueueError, submit_job
from guardq.verdict import Mode

log = logging.getLogger(__name__)

# Seconds between checks of a running batch: short at first (small batches finish in
# seconds), growing to this bound for long ones.
FIRST_POLL_S = 0.5
MAX_POLL_S = 5.0


class _Stopped(Exception):
    """The batch left ``validating`` (cancelled) while its input was being read."""


@dataclass
class _Part:
    first_line: int
    work: dict[Mode, list[LineWork]] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)
    items: int = 0
    last_line: int = 0

    def add(self, entry: LineWork | LineError) -> None:
        self.last_line = entry.line
        if isinstance(entry, LineError):
            self.errors.append(entry)
            return
        self.work.setdefault(entry.mode, []).append(entry)
        self.items += len(entry.items)


def advance(
    batch_id: uuid.UUID,
    *,
    factory: sessionmaker[Session],
    settings: Settings,
    app: Celery,
    poll: int = 0,
) -> None:
    """One step of the batch's life cycle (see the module docstring); safe to repeat and
    to run concurrently with another call (the batch's row is locked where it matters)."""
    with session_scope(factory) as session:
        batch = get_batch(session=session, batch_id=batch_id)
    if batch is None or batch.status in TERMINAL:
        return
    if batch.status is BatchStatus.VALIDATING:
        _read_input(batch, factory, settings, app)
        with session_scope(factory) as session:
            batch = get_batch(session=session, batch_id=batch_id)
    if batch.status is BatchStatus.CANCELLING:
        _finish(batch, factory, BatchStatus.CANCELLED, stop=BATCH_CANCELLED)
    elif batch.status is BatchStatus.FINALIZING:
        _finish(batch, factory, BatchStatus.COMPLETED)
    elif batch.status is BatchStatus.IN_PROGRESS:
        with session_scope(factory) as session:
            parts = list_parts(session=session, batch_id=batch_id)
        if all(part.status in (JobStatus.DONE, JobStatus.FAILED) for part in parts):
            with session_scope(factory) as session:
                transition(
                    session=session, batch_id=batch_id, allowed=[BatchStatus.IN_PROGRESS],
                    status=BatchStatus.FINALIZING, finalizing_at=utcnow(),
                )  # fmt: skip
            advance(batch_id, factory=factory, settings=settings, app=app)
        elif utcnow() >= batch.expires_at:
            _finish(batch, factory, BatchStatus.EXPIRED, stop=BATCH_EXPIRED)
        else:
            countdown = min(MAX_POLL_S, FIRST_POLL_S * 1.5**poll)
            app.send_task(
                RUN_BATCH, kwargs={"batch_id": str(batch_id), "poll": poll + 1},
                countdown=countdown, ignore_result=True,
            )  # fmt: skip


def _read_input(
    batch: BatchInfo, factory: sessionmaker[Session], settings: Settings, app: Celery
) -> None:
    seen: set[str] = set()
    total = 0
    part = _Part(first_line=batch.lines_read + 1)
    try:
        for line, raw in enumerate(read_lines(factory, batch.input_file_id, MAX_LINE_BYTES), 1):
            if raw is not None and not raw.strip():
                continue  # blank lines (a trailing newline) are not requests
            total += 1
            # Lines already read are parsed again only for their custom_ids.
            entry = parse_line(raw, line, batch.endpoint, settings, seen)
            if line <= batch.lines_read:
                continue
            part.add(entry)
            if part.items >= settings.batch_part_items:
                _submit(batch, part, factory, settings, app)
                part = _Part(first_line=line + 1)
        _submit(batch, part, factory, settings, app)
    except _Stopped:
        return
    now = utcnow()
    with session_scope(factory) as session:
        if total == 0:
            transition(
                session=session, batch_id=batch.id, allowed=[BatchStatus.VALIDATING],
                status=BatchStatus.FAILED, failed_at=now, total=0,
                errors=[{"code": "empty_file", "line": None, "param": "input_file_id",
                         "message": "the input file holds no requests"}],
            )  # fmt: skip
        else:
            transition(
                session=session, batch_id=batch.id, allowed=[BatchStatus.VALIDATING],
                status=BatchStatus.IN_PROGRESS, in_progress_at=now, total=total,
            )  # fmt: skip
    log.info("batch %s: %d request(s) read", batch.id, total)


def _still_validating(session: Session, batch_id: uuid.UUID) -> None:
    current = get_batch(session=session, batch_id=batch_id, lock=True)
    if current is None or current.status is not BatchStatus.VALIDATING:
        raise _Stopped


def _submit(
    batch: BatchInfo, part: _Part, factory: sessionmaker[Session], settings: Settings, app: Celery
) -> None:
    """Submit ``part``'s jobs (one per mode) and record its errors and progress."""
    if not part.last_line:
        return
    with session_scope(factory) as session:
        done = parts_from(session=session, batch_id=batch.id, first_line=part.first_line)
    for mode, work in part.work.items():
        if mode in done:
            continue

        def link(session: Session, job: CreatedJob, mode: Mode = mode, lines: int = len(work)):
            _still_validating(session, batch.id)
            link_part(session=session, batch_id=batch.id, job_id=job.id,
                      first_line=part.first_line, mode=mode, lines=lines)  # fmt: skip

        try:
            submit_job(
                session_factory=factory,
                mode=mode,
                priority=Priority.BULK,
                items=[item for entry in work for item in entry.items],
                model_id=batch.model_id,
                api_key_id=batch.api_key_id,
                app=app,
                policy=settings.policy,
                in_transaction=link,
            )
        except EnqueueError:
            # The job is marked failed and linked: its requests end in the error file.
            log.error("batch %s: a part's tasks could not be enqueued", batch.id)
    with session_scope(factory) as session:
        _still_validating(session, batch.id)
        add_line_errors(session=session, batch_id=batch.id, errors=part.errors)
        transition(session=session, batch_id=batch.id, allowed=[BatchStatus.VALIDATING],
                   lines_read=part.last_line)  # fmt: skip


def _finish(
    batch: BatchInfo, factory: sessionmaker[Session], final: BatchStatus, stop: str | None = None
) -> None:
    """Write the output and error files and set ``final``, in one transaction."""
    created = int(utcnow().timestamp())
    model = public_model_name(batch.model_id)
    with session_scope(factory) as session:
        current = get_batch(session=session, batch_id=batch.id, lock=True)
        if current is None or current.status in TERMINAL:
            return
        if stop is not None:
            fail_unjudged(session=session, batch_id=batch.id, error=stop)
        counts = {"ok": 0, "failed": 0}
        outputs = _chunked(_lines(session, current, model, created, stop, counts, want_ok=True))
        output = write_file(
            session=session, chunks=outputs, filename=f"batch_{batch.id.hex}_output.jsonl",
            purpose=FilePurpose.BATCH_OUTPUT, api_key_id=batch.api_key_id, lines=0,
        )  # fmt: skip
        errors = _chunked(_lines(session, current, model, created, stop, counts, want_ok=False))
        error = write_file(
            session=session, chunks=errors, filename=f"batch_{batch.id.hex}_error.jsonl",
            purpose=FilePurpose.BATCH_OUTPUT, api_key_id=batch.api_key_id, lines=0,
        )  # fmt: skip
        now = utcnow()
        stamp = {
            BatchStatus.COMPLETED: "completed_at",
            BatchStatus.CANCELLED: "cancelled_at",
            BatchStatus.EXPIRED: "expired_at",
        }[final]
        transition(
            session=session, batch_id=batch.id, allowed=[current.status], status=final,
            output_file_id=output.id if output.bytes else None,
            error_file_id=error.id if error.bytes else None,
            completed=counts["ok"], failed=counts["failed"], **{stamp: now},
        )  # fmt: skip
        for empty in (f for f in (output, error) if not f.bytes):
            delete_file(session=session, file_id=empty.id)
        # Another batch may still be reading the same file: the last one deletes it.
        reading = batches_reading(session=session, file_id=current.input_file_id)
        if not current.keep_input_file and not reading:
            delete_file(session=session, file_id=current.input_file_id)
    log.info(
        "batch %s: %s, %d request(s) answered, %d in the error file",
        batch.id, final.value, counts["ok"], counts["failed"],
    )  # fmt: skip


def _chunked(lines: Iterator[bytes]) -> Iterator[bytes]:
    buffer = bytearray()
    for line in lines:
        buffer += line
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def _job_rows(session: Session, job_id: uuid.UUID) -> Iterator[ItemResult]:
    after = -1
    while True:
        rows = list_results(session=session, job_id=job_id, after_index=after, limit=MAX_PAGE)
        yield from rows
        if len(rows) < MAX_PAGE:
            return
        after = rows[-1].index


def _lines(
    session: Session, batch: BatchInfo, model: str, created: int, stop: str | None,
    counts: dict[str, int], *, want_ok: bool,
) -> Iterator[bytes]:  # fmt: skip
    """The output lines (``want_ok``) or the error lines, in input order, a part at a
    time; counts them into ``counts`` as they go."""
    parts = list_parts(session=session, batch_id=batch.id)
    refused = _refused(session, batch.id)
    pending = next(refused, None)
    for first_line in sorted({part.first_line for part in parts}):
        # Lines of this part: every mode's job, merged back into line order.
        by_line: dict[int, tuple[Mode, list[ItemResult]]] = {}
        for part in (p for p in parts if p.first_line == first_line):
            for row in _job_rows(session, part.job_id):
                if part.status is JobStatus.FAILED and row.verdict is None and row.error is None:
                    row = _with_error(row, part.error or "the part's job failed")
                by_line.setdefault(row.metadata["line"], (part.mode, []))[1].append(row)
        for line in sorted(by_line):
            while pending is not None and pending.line < line:
                if not want_ok:
                    counts["failed"] += 1
                    yield refused_line(batch.id, pending)
                pending = next(refused, None)
            mode, rows = by_line[line]
            ok, text = result_line(
                batch.id, line=line, custom_id=rows[0].ref, endpoint=batch.endpoint, mode=mode,
                rows=rows, model=model, created=created, not_run=stop,
            )  # fmt: skip
            if ok == want_ok:
                counts["ok" if ok else "failed"] += 1
                yield text
    while pending is not None:
        if not want_ok:
            counts["failed"] += 1
            yield refused_line(batch.id, pending)
        pending = next(refused, None)


def _refused(session: Session, batch_id: uuid.UUID) -> Iterator[LineError]:
    after = 0
    while True:
        page = list_line_errors(session=session, batch_id=batch_id, after_line=after, limit=1000)
        yield from page
        if len(page) < 1000:
            return
        after = page[-1].line


def _with_error(row: ItemResult, error: str) -> ItemResult:
    return replace(row, error=error)
