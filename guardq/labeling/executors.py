"""Where jobs run: through the Celery workers, or in this process (the embedded default).

``open_executors`` picks by the settings, as DESIGN.md says: with ``GUARDQ_BROKER_URL``
set, jobs go to the workers and their verdicts are read back from their store
(``GUARDQ_DATABASE_URL``); with no broker, the same pipeline runs here, on the
configured store or the embedded SQLite file. ``guardq label`` and ``guardq demo`` both
start here, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from guardq.labeling.runner import Executor, QueueExecutor
from guardq.settings import Settings
from guardq.store.db import get_session_factory
from guardq.verdict import Mode

# Windows of this many bulk tasks per queued job, a few jobs in flight: enough work
# queued for several workers, little redone after an interruption.
QUEUE_WINDOW_TASKS = 4
QUEUE_DEPTH = 4
# In this process a window is one job, cut into engine calls by the pipeline: big
# windows keep the engine's calls full and the per-window costs (a checkpoint, an fsync
# of the output) rare; a resumed run judges at most two windows again.
EMBEDDED_WINDOW_TASKS = 32


def open_executors(
    settings: Settings, model: str, modes: Iterable[Mode]
) -> tuple[dict[Mode, Executor], int]:
    """An executor per mode in ``modes`` and the number of records per job window.

    The in-process executors share one runtime, so the model loads once, and one
    thread, so the engine runs one job at a time; or GUARDQ_WORKERS_PER_DEVICE engine
    processes, one window each.
    """
    modes = list(dict.fromkeys(modes))
    if settings.broker_url is not None:
        if settings.database_url is None:
            raise ValueError(
                "GUARDQ_BROKER_URL is set but GUARDQ_DATABASE_URL is not: jobs sent to the "
                "workers are read back from their store; set both, or neither to run here"
            )
        factory = get_session_factory()
        executors = {
            mode: QueueExecutor(factory, model, mode=mode, depth=QUEUE_DEPTH) for mode in modes
        }
        return executors, settings.bulk_task_items * QUEUE_WINDOW_TASKS

    # Imported here: the queue path must not load torch in the producer's process.
    from worker.inprocess import in_process_executors

    # Engine processes take a window each: smaller windows, so that a file of a few
    # windows still keeps them all busy.
    tasks = max(1, EMBEDDED_WINDOW_TASKS // settings.workers_per_device)
    return in_process_executors(model, modes), settings.bulk_task_items * tasks
