"""The embedded default: jobs run in this process, by the pipeline the workers run.

With no broker configured, ``guardq label`` (and ``guardq demo``) create their jobs in
the audit store (SQLite unless ``GUARDQ_DATABASE_URL`` says otherwise) and hand the
items straight to ``worker.pipeline.process_items``, as a Celery task would. A job is a
whole window of records: ``process_items`` streams it through the engine and commits
one wave's verdicts while the engine runs the next. The jobs run one after another on a
thread of their own, so that the caller writes the last window and reads the next one
while the engine judges this one.

With ``GUARDQ_WORKERS_PER_DEVICE`` above 1 the jobs run instead in that many engine
processes (spawned, each with its own copy of the model and, on the CPU, its share of
the cores), one window each at a time, as ``guardq worker --per-device`` runs the queue:
while one process reads and commits a window, another's engine runs. This process then
loads no model; it reads and writes the files and the jobs' rows.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import signal
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from guardq.heap import freeze_startup_heap
from guardq.labeling.runner import read_results
from guardq.native import cpu_threads
from guardq.settings import get_settings
from guardq.store.db import create_db_engine, resolve_url, session_factory, session_scope
from guardq.store.enums import Priority
from guardq.store.jobs import ItemResult, NewItem, create_job
from guardq.store.migrate import upgrade_database
from guardq.verdict import Mode, Verdict
from worker.pipeline import WorkItem

if TYPE_CHECKING:
    from worker.engine import GuardEngine
    from worker.runtime import Runtime


def _runtime(model: str | None, url: str) -> Runtime:
    """A runtime on the (migrated) store at ``url`` with ``model`` loaded on the
    configured device."""
    # Imported here: with engine processes, this one never loads torch (seconds).
    from worker.runtime import build_runtime

    runtime = build_runtime(model=model, session_factory=session_factory(create_db_engine(url)))
    if runtime.engine.placement.device.type == "cpu" and _malloc_trim is not None:
        runtime = replace(runtime, engine=_ReleasingEngine(runtime.engine))
    return runtime


class InProcessExecutor:
    """Runs each submitted job with ``judge`` (on the engine thread or in an engine
    process), up to ``depth`` windows in flight.

    ``submit`` commits the job's rows and returns; ``results`` waits for the job and
    reads its rows back from the store, like the queue's executor.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        model_id: str,
        *,
        mode: Mode,
        engines: _Engines,
    ) -> None:
        self.session_factory, self.model_id, self.mode = factory, model_id, mode
        self.engines, self.depth = engines, engines.depth
        self._running: dict[uuid.UUID, Future] = {}

    def submit(self, items: list[NewItem]) -> uuid.UUID:
        with session_scope(self.session_factory) as session:
            job = create_job(
                session=session,
                mode=self.mode,
                items=items,
                model_id=self.model_id,
                priority=Priority.BULK,
            )
        work = [
            WorkItem(item_id=created.id, mode=self.mode, text=item.text, prompt=item.prompt)
            for created, item in zip(job.items, items, strict=True)
        ]
        self._running[job.id] = self.engines.judge(work)
        return job.id

    def results(self, job_id: uuid.UUID) -> list[ItemResult]:
        running = self._running.pop(job_id, None)
        if running is not None:
            running.result()  # what the pipeline raised, raised here
        return read_results(self.session_factory, job_id)

    def close(self) -> None:
        """Drop the jobs not started; the ones running finish (an engine call cannot
        be interrupted), and their windows are judged again by a resumed run. The last
        executor of a set closes the engine processes."""
        for running in self._running.values():
            running.cancel()
        self._running.clear()
        self.engines.release()


class _Engines:
    """The engine thread or processes that a set of executors share, with the windows
    they may hold in flight: one per engine, plus the one the caller writes out."""

    def __init__(
        self, runner: Executor, judge: Callable, *, store: Engine, engines: int, users: int
    ) -> None:
        self.runner, self._judge, self.store, self.users = runner, judge, store, users
        self.depth = engines + 1

    def judge(self, work: list[WorkItem]) -> Future:
        return self.runner.submit(self._judge, work)

    def release(self) -> None:
        self.users -= 1
        if self.users == 0:
            self.runner.shutdown(wait=True, cancel_futures=True)
            # Closed here: nothing closes a pool's connections at the process's exit, and
            # SQLite folds its write-ahead log back into the file (and removes the
            # -wal and -shm files) only when the last connection closes.
            self.store.dispose()


def in_process_executors(model: str, modes: Iterable[Mode]) -> dict[Mode, InProcessExecutor]:
    """An executor per mode, sharing the engine: one runtime on one thread (the model
    loads once, the engine runs one job at a time), or ``GUARDQ_WORKERS_PER_DEVICE``
    engine processes."""
    modes = list(dict.fromkeys(modes))
    processes = get_settings().workers_per_device
    url = resolve_url()
    upgrade_database(url)
    if processes == 1:
        runtime = _runtime(model, url)
        factory, model_id = runtime.session_factory, runtime.model_id
        runner: Executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guardq-embedded")
        judge = runtime.process
    else:
        factory, model_id = session_factory(create_db_engine(url)), model
        runner = ProcessPoolExecutor(
            max_workers=processes,
            # Not fork: this process's threads and locks must not be copied.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_engine_process,
            initargs=(model, url, cpu_threads(processes)),
        )
        try:
            # A model that cannot load fails here, with its own error, before any reading.
            runner.submit(_engine_ready).result()
        except BaseException:
            runner.shutdown(wait=True, cancel_futures=True)
            raise
        judge = _judge_here
    freeze_startup_heap()  # a label run is one long process too
    engines = _Engines(runner, judge, store=factory.kw["bind"], engines=processes, users=len(modes))
    return {
        mode: InProcessExecutor(factory, model_id, mode=mode, engines=engines) for mode in modes
    }


# In an engine process: its runtime, or what loading it raised (raised again by every
# job, so that the caller sees the error itself rather than a broken pool).
_process_runtime: Runtime | None = None
_process_error: Exception | None = None


def _start_engine_process(model: str, url: str, threads: int) -> None:
    global _process_runtime, _process_error
    # Ctrl-C is the caller's: it drops the windows not started, and the running ones
    # end their engine calls rather than die mid-commit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)
    try:
        _process_runtime = _runtime(model, url)
    except Exception as exc:
        _process_error = exc
        return
    freeze_startup_heap()


def _engine_ready() -> None:
    if _process_error is not None:
        raise _process_error


def _judge_here(work: list[WorkItem]) -> None:
    _engine_ready()
    _process_runtime.process(work)  # the report stays here: the caller reads the store


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
