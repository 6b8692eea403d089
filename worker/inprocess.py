"""The embedded default: jobs run in this process, by the pipeline the workers run.

With no broker configured, ``guardq label`` (and ``guardq demo``) create their jobs in
the audit store (SQLite unless ``GUARDQ_DATABASE_URL`` says otherwise) and hand the
items straight to ``worker.pipeline.process_items``, as a Celery task would. A job is a
whole window of records: ``process_items`` streams it through the engine and commits
one wave's verdicts while the engine runs the next. The jobs run one after another on a
thread of their own, so that the caller writes the last window and reads the next one
while the engine judges this one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from guardq.heap import freeze_startup_heap
from guardq.labeling.runner import read_results
from guardq.store.db import create_db_engine, resolve_url, session_factory, session_scope
from guardq.store.enums import Priority
from guardq.store.jobs import ItemResult, NewItem, create_job
from guardq.store.migrate import upgrade_database
from guardq.verdict import Mode, Verdict
from worker.engine import GuardEngine
from worker.pipeline import WorkItem
from worker.runtime import Runtime, build_runtime


def embedded_runtime(*, model: str | None = None, database_url: str | None = None) -> Runtime:
    """A runtime on a migrated store (``database_url``, else the configured or embedded
    one) with ``model`` loaded on the configured device."""
    url = resolve_url(database_url)
    upgrade_database(url)
    return build_runtime(model=model, session_factory=session_factory(create_db_engine(url)))


class InProcessExecutor:
    """Runs each submitted job on ``runner``, the one thread that uses the engine.

    ``submit`` commits the job's rows and returns; ``results`` waits for the job and
    reads its rows back from the store, like the queue's executor.
    """

    # One window judged while the caller writes the one before.
    depth = 2

    def __init__(self, runtime: Runtime, *, mode: Mode, runner: ThreadPoolExecutor) -> None:
        self.runtime, self.mode, self.runner = runtime, mode, runner
        self._running: dict[uuid.UUID, Future] = {}

    def submit(self, items: list[NewItem]) -> uuid.UUID:
        with session_scope(self.runtime.session_factory) as session:
            job = create_job(
                session=session,
                mode=self.mode,
                items=items,
                model_id=self.runtime.model_id,
                priority=Priority.BULK,
            )
        work = [
            WorkItem(item_id=created.id, mode=self.mode, text=item.text, prompt=item.prompt)
            for created, item in zip(job.items, items, strict=True)
        ]
        self._running[job.id] = self.runner.submit(self.runtime.process, work)
        return job.id

    def results(self, job_id: uuid.UUID) -> list[ItemResult]:
        running = self._running.pop(job_id, None)
        if running is not None:
            running.result()  # what the pipeline raised, raised here
        return read_results(self.runtime.session_factory, job_id)

    def close(self) -> None:
        """Drop the jobs not started; the one running finishes (an engine call cannot
        be interrupted), and its window is judged again by a resumed run."""
        for running in self._running.values():
            running.cancel()
        self._running.clear()


def in_process_executors(model: str, modes: Iterable[Mode]) -> dict[Mode, InProcessExecutor]:
    """An executor per mode, sharing one runtime (the model loads once) and one thread
    (the engine runs one job at a time)."""
    runtime = embedded_runtime(model=model)
    if runtime.engine.placement.device.type == "cpu" and _malloc_trim is not None:
        runtime = replace(runtime, engine=_ReleasingEngine(runtime.engine))
    runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guardq-embedded")
    freeze_startup_heap()  # a label run is one long process too
    return {mode: InProcessExecutor(runtime, mode=mode, runner=runner) for mode in modes}


def _find_malloc_trim():
    library = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(library), "malloc_trim", None) if library else None


# glibc's, or None (musl, macOS): there the engine runs unwrapped.
_malloc_trim = _find_malloc_trim()


class _ReleasingEngine:
    """``engine``, handing the heap pages its waves freed back to the OS after each one.

    On the CPU an engine wave allocates its tensors from the C heap, in sizes that
    change from wave to wave; glibc keeps what they free as holes it seldom reuses, so
    a long run keeps growing (the demo model alone: 2.3 GB after 40,000 rows, still
    climbing). Trimmed after each wave, the process stays at what one wave needs
    (``guardq label`` on 10,000 demo rows: 1.5 GB at peak instead of 2.0 GB, about
    0.95 GB between calls however long the file); the cost, pages faulted in again by
    the next wave, was within the noise of the throughput measurements.
    """

    def __init__(self, engine: GuardEngine) -> None:
        self.engine = engine

    def stream(self, inputs: object) -> Iterator[list[tuple[int, Verdict]]]:
        stream = self.engine.stream(inputs)
        try:
            for ready in stream:
                _malloc_trim(0)
                yield ready
        finally:
            stream.close()
            _malloc_trim(0)
