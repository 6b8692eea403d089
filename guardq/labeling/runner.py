"""The labeling loop: read a window of records, judge it as one job, write it, checkpoint.

Windows are written in input order, with the executor's ``depth`` of them in flight: the
file is read as a stream, a window at a time, and the next one is judged while the last
is written. A job's results are read back from the audit store, whichever way it was
run (``QueueExecutor`` through the workers, or the in-process
``worker.inprocess.InProcessExecutor``). A malformed record or a failed item goes to
``OUT.rejects.jsonl`` (its place in the file and the reason, never its content) and to
stderr; the rest of the file carries on.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from guardq.labeling.checkpoint import Progress, save_progress, start_or_resume
from guardq.labeling.columns import VERDICT_COLUMNS, verdict_columns
from guardq.labeling.readers import Fields, Reader, Record, file_format
from guardq.labeling.writers import JsonlWriter, open_writer
from guardq.store.db import session_scope
from guardq.store.enums import JobStatus, Priority
from guardq.store.jobs import MAX_PAGE, ItemResult, NewItem, get_job, list_results


class Executor(Protocol):
    """Runs jobs: ``submit`` returns a job id, ``results`` waits for its items' rows,
    ``close`` gives up the jobs whose results nobody will ask for."""

    depth: int  # windows kept in flight

    def submit(self, items: list[NewItem]) -> uuid.UUID: ...

    def results(self, job_id: uuid.UUID) -> list[ItemResult]: ...

    def close(self) -> None: ...


def read_results(session_factory: sessionmaker[Session], job_id: uuid.UUID) -> list[ItemResult]:
    """All of a job's item rows, in item order."""
    results: list[ItemResult] = []
    with session_scope(session_factory) as session:
        while True:
            after = results[-1].index if results else -1
            page = list_results(session=session, job_id=job_id, after_index=after, limit=MAX_PAGE)
            results += page
            if len(page) < MAX_PAGE:
                return results


class QueueExecutor:
    """Jobs sent to the Celery workers (``GUARDQ_BROKER_URL``), polled in the store."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        model_id: str,
        *,
        mode,
        app=None,
        depth: int = 4,
        poll_s: float = 0.25,
    ) -> None:
        self.session_factory, self.model_id, self.mode = session_factory, model_id, mode
        self.app, self.depth, self.poll_s = app, depth, poll_s

    def submit(self, items: list[NewItem]) -> uuid.UUID:
        from guardq.submit import submit_job

        job = submit_job(
            session_factory=self.session_factory,
            mode=self.mode,
            priority=Priority.BULK,
            items=items,
            model_id=self.model_id,
            app=self.app,
        )
        return job.id

    def results(self, job_id: uuid.UUID) -> list[ItemResult]:
        while True:
            with session_scope(self.session_factory) as session:
                job = get_job(session=session, job_id=job_id)
            if job.status in (JobStatus.DONE, JobStatus.FAILED):
                return read_results(self.session_factory, job_id)
            time.sleep(self.poll_s)

    def close(self) -> None:
        """Nothing to give up: the workers finish the jobs sent, a resume sends new ones."""


@dataclass
class _Window:
    records: list[Record]
    items: list[NewItem | str | None]  # per record: the item, why not, or None (blank)
    job_id: uuid.UUID | None


def label_file(
    inp: Path,
    out: Path,
    *,
    fields: Fields,
    model_id: str,
    open_executor: Callable[[], tuple[Executor, int]],
    show_progress: bool = True,
) -> Progress:
    """Label ``inp`` into ``out`` (same format), resuming a run interrupted before.

    ``open_executor`` gives the executor and its records per job; it is called only
    when there is work left, so a finished file costs no model load.
    """
    reader = Reader(inp)
    if file_format(out) != reader.format:
        raise ValueError(f"{out}: the output must be {reader.format} like {inp}")
    columns, schema = _output_shape(reader, fields, inp)
    options = {"mode": fields.mode.value, "fields": list(fields.names), "model": model_id}
    progress = start_or_resume(inp, out, options)
    if progress.complete:
        print(f"{out}: already complete ({progress.labeled} labeled)", file=sys.stderr)
        return progress

    executor, window = open_executor()
    writer = open_writer(reader.format, out, progress.out, columns=columns, schema=schema)
    rejects = JsonlWriter(rejects_path(out), progress.rejects)
    bar = tqdm(
        total=reader.count(), initial=progress.records, unit="row", disable=not show_progress
    )
    try:
        inflight: deque[_Window] = deque()
        for records in _windows(reader.records(progress.records), window):
            items = [None if r.blank else r.item(fields) for r in records]
            todo = [item for item in items if isinstance(item, NewItem)]
            inflight.append(_Window(records, items, executor.submit(todo) if todo else None))
            while len(inflight) >= max(1, executor.depth):
                done = inflight.popleft()
                progress = _write(done, executor, writer, rejects, progress, out)
                bar.update(len(done.records))
        while inflight:
            done = inflight.popleft()
            progress = _write(done, executor, writer, rejects, progress, out)
            bar.update(len(done.records))
        writer.finish()
        progress = progress.advanced(complete=True)
        save_progress(out, progress)
    finally:
        executor.close()
        bar.close()
        writer.close()
        rejects.close()
    return progress


def rejects_path(out: Path) -> Path:
    return out.with_name(out.name + ".rejects.jsonl")


def _output_shape(reader: Reader, fields: Fields, inp: Path):
    if reader.columns is None:
        return None, None
    missing = [name for name in fields.names if name not in reader.columns]
    if missing:
        raise ValueError(f"{inp}: no column {missing[0]!r} (columns: {reader.columns})")
    # Relabeling a labeled file replaces its verdict columns.
    columns = [c for c in reader.columns if c not in VERDICT_COLUMNS]
    schema = reader.schema
    if schema is not None:
        for name in VERDICT_COLUMNS:
            if name in schema.names:
                schema = schema.remove(schema.get_field_index(name))
    return columns, schema


def _windows(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(window: _Window, executor, writer, rejects, progress: Progress, out: Path) -> Progress:
    results = iter(executor.results(window.job_id) if window.job_id else ())
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for record, item in zip(window.records, window.items, strict=True):
        if item is None:
            continue
        error = item if isinstance(item, str) else None
        if error is None:
            result = next(results)
            if result.verdict is not None:
                rows.append(
                    {**record.row, **verdict_columns(result.content_sha256, result.verdict)}
                )
                continue
            error = f"moderation failed: {result.error}"
        rejected.append({"where": record.where, "error": error})
        tqdm.write(f"{progress.input}: {record.where}: {error}", file=sys.stderr)
    writer.write(rows)
    rejects.write(rejected)
    position, rejects_size = writer.sync(), rejects.sync()
    progress = progress.advanced(
        records=progress.records + len(window.records),
        out=position,
        rejects=rejects_size,
        labeled=progress.labeled + len(rows),
        rejected=progress.rejected + len(rejected),
    )
    save_progress(out, progress)
    return progress
