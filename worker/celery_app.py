"""The worker's Celery app: ``celery -A worker.celery_app worker -Q realtime,bulk``.

Configuration comes from ``guardq.queue.make_celery`` (shared with producers); this
module adds the tasks and loads the model before the worker consumes.

Why the solo pool, with the model loaded in ``celeryd_after_setup``: one worker process
holds one model on one device (``guardq worker`` starts one per device). That signal
comes in the main process after logging is set up and before the worker consumes, so a
slow load (minutes for an 8B checkpoint) only delays readiness: the 4 s
``worker_proc_alive_timeout`` guards prefork children, and there are none. A prefork
child would have to load its own copy after the fork (loading before it breaks CUDA),
and a threads pool would share one engine across threads; neither is safe, so a worker
that consumes the moderation queues refuses any pool but solo. A load that fails stops
the worker (exit 1) rather than leaving it to fail every batch. Callbacks (no model)
run in a separate threads-pool worker.
"""

from __future__ import annotations

import logging

from celery import signals

from guardq.heap import freeze_startup_heap
from guardq.queue import BULK, REALTIME, make_celery

log = logging.getLogger(__name__)

app = make_celery()
app.conf.include = [
    "worker.tasks",
    "worker.upkeep",
    "worker.alerts",
    "worker.events",
    "worker.batches",
]


def consumes_moderation(worker) -> bool:
    """Whether ``worker`` (a WorkController) takes realtime or bulk messages."""
    queues = set(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
    return bool(queues & {REALTIME, BULK})


@signals.celeryd_after_setup.connect
def _load_engine(sender, instance, **_kwargs) -> None:
    if not consumes_moderation(instance):
        return
    pool = getattr(instance.pool_cls, "__module__", str(instance.pool_cls))
    if "solo" not in pool:
        log.critical(
            "a worker that consumes %s/%s must run --pool=solo (one model per process)",
            REALTIME,
            BULK,
        )
        raise SystemExit(1)
    from worker.runtime import get_runtime

    try:
        runtime = get_runtime()
    except Exception as exc:
        # Celery logs and swallows a signal handler's exceptions; SystemExit it obeys.
        # An error that names its fix (a missing model file, a GPU this machine lacks)
        # is an operator's to act on: one line, no traceback.
        if isinstance(getattr(exc, "what", None), str) and hasattr(exc, "fix"):
            log.critical("could not load the model: %s; %s", exc.what, exc.fix)
        else:
            log.critical("could not load the model", exc_info=True)
        raise SystemExit(1) from None
    frozen = freeze_startup_heap()
    log.info(
        "worker ready to moderate with %s (%d start-up objects kept out of garbage collection)",
        runtime.model_id,
        frozen,
    )
