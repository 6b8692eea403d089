"""The Celery application as producers and workers share it: queues, task names, config.

Torch-free and task-free: the API and ``guardq.submit`` send tasks *by name* through
``get_celery()``; only ``worker.celery_app`` imports the task code. All Celery
configuration lives in ``make_celery`` so that producer and worker cannot disagree.

Delivery is at least once: tasks are acknowledged after they ran (``task_acks_late``)
and re-read their rows, so a redelivered task records nothing twice. On Redis a message
whose worker died (SIGKILL, OOM, power loss) is redelivered only after
``GUARDQ_VISIBILITY_TIMEOUT`` seconds (900 by default, not Celery's one hour): that
bounds how long such items wait, and it must exceed the longest time a message may stay
unacknowledged (a bulk task's inference, or a realtime message waiting in the gathering
buffer), or a still-running task would be handed to a second worker (harmless, the
store keeps one verdict, but wasted work).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery
from celery.app.amqp import AMQP
from kombu import Exchange, Queue

from guardq.settings import Settings, get_settings

REALTIME = "realtime"
BULK = "bulk"
# Callbacks (and upkeep such as the text purge) leave the inference workers' queues: a
# slow receiver must not stall a GPU.
CALLBACKS = "callbacks"
# In this order a worker polls them: realtime is always asked first.
QUEUES = (REALTIME, BULK, CALLBACKS)

# Task names, the contract between producers and the worker (``worker.tasks``).
# Both moderation tasks take the kwargs built by ``guardq.submit.task_payload``.
MODERATE_REALTIME = "guardq.moderate_realtime"
MODERATE_BULK = "guardq.moderate_bulk"
# kwargs: {"job_id": str}; POSTs the job summary to the job's callback_url.
SEND_CALLBACK = "guardq.send_callback"
# kwargs: {"event": dict, "url": str | None}; POSTs the signed event (guardq.alerts) to
# url, or GUARDQ_ALERT_URL when it is None.
SEND_ALERT = "guardq.send_alert"

# kwargs: {"batch_id": str, "poll": int}; moves a Batch API batch along its life cycle
# (worker.batches): reads its input into bulk jobs, then writes its output files.
# Model-free: it runs on the callbacks worker.
RUN_BATCH = "guardq.run_batch"
# No kwargs; sent by Celery beat every GUARDQ_PURGE_INTERVAL_S: clears reviewed text
# past its retention. Runs on the model-free callbacks worker.
PURGE_RETAINED_TEXT = "guardq.purge_retained_text"

# Items per realtime message: small, so that a single-item request never waits behind a
# large one; the worker gathers up to REALTIME_GATHER_MESSAGES of them per engine call.
REALTIME_TASK_ITEMS = 8
REALTIME_GATHER_MESSAGES = 16
# Bulk messages (GUARDQ_BULK_TASK_ITEMS items each) one pipeline call may gather while
# more wait in the queue: with the default 64, calls of up to 4,096 items. Each call is
# one engine stream ending in a part-filled wave, so the fewer the better: on a tiny
# model, 64 messages ran 740 items/s where 16 ran 658 (two rounds each, alternately).
# Each wave's verdicts commit as it ends, so a crash redoes only the unrecorded ones.
BULK_GATHER_MESSAGES = 64
# Seconds the worker waits for more messages, while its queue is not empty, before
# running what it has (an empty queue runs the buffer at once: worker.gathering).
REALTIME_GATHER_INTERVAL_S = 0.05
# A bulk buffer runs once no bulk message has come for BULK_GATHER_QUIET_S (a job's
# tasks arrive back to back), and at the latest BULK_GATHER_WAIT_S after its first.
BULK_GATHER_QUIET_S = 0.05
BULK_GATHER_WAIT_S = 1.0
# How long an idle worker may hold a realtime call smaller than its previous one, for
# that call's clients' next requests (``worker.gathering``): at 16 clients on the demo
# model, 77 -> 86-88 requests/s.
REALTIME_LINGER_S = 0.02


# Task arguments Celery may print (message headers, task events, Flower) as they are;
# any other argument is shown by its size only: the items hold the texts.
_PRINTABLE_ARGUMENTS = frozenset({"job_id", "mode", "model_id", "attempt"})


def printable_arguments(args: Any, kwargs: Any) -> tuple[str, str]:
    """``(argsrepr, kwargsrepr)`` of a task: ids, names and counts, never content."""

    def shown(key: str, value: Any) -> str:
        if key in _PRINTABLE_ARGUMENTS and isinstance(value, str | int | None):
            return repr(value)
        if isinstance(value, list | tuple | dict):
            return f"<{len(value)} entries>"
        return "<hidden>"

    argsrepr = f"<{len(args or ())} positional>" if args else "()"
    kwargsrepr = "{" + ", ".join(f"{k!r}: {shown(k, v)}" for k, v in (kwargs or {}).items()) + "}"
    return argsrepr, kwargsrepr


class ContentFreeAMQP(AMQP):
    """Celery's message factory, with the printable form of every task's arguments made
    by ``printable_arguments``: Celery copies it into the message headers and into the
    task-sent and task-received events that Flower shows."""

    def as_task_v2(self, task_id, name, args=None, kwargs=None, *rest, **options):
        options["argsrepr"], options["kwargsrepr"] = printable_arguments(args, kwargs)
        return super().as_task_v2(task_id, name, args, kwargs, *rest, **options)


def make_celery(settings: Settings | None = None) -> Celery:
    """A Celery app on ``settings.broker_url`` (Redis), configured for guardq.

    Raises ValueError when no broker is configured: without one guardq runs its
    pipeline in-process (``guardq label``) and has no queue to send to.
    """
    settings = settings or get_settings()
    if settings.broker_url is None:
        raise ValueError(
            "GUARDQ_BROKER_URL is not set: the queue needs a Redis broker "
            "(e.g. redis://localhost:6379/0)"
        )
    app = Celery("guardq", broker=settings.broker_url, amqp=ContentFreeAMQP)
    redis_options = {"visibility_timeout": settings.visibility_timeout}
    app.conf.update(
        result_backend=settings.result_backend_url or settings.broker_url,
        # JSON only: a pickle message from anyone who can reach Redis would be code.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        # Verdicts live in the audit store; nobody waits on Celery results. (send_task
        # does not read this: every send passes ignore_result=True, or the producer
        # would subscribe to a result channel per task, and hang when Redis is down.)
        task_ignore_result=True,
        # At least once: acknowledge after the work, and give a message back when the
        # process running it dies; the tasks are idempotent (see the module docstring).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        broker_transport_options={
            **redis_options,
            # Poll the queues in the order the worker lists them (realtime first), not
            # round robin: a bulk backlog never delays a realtime message.
            "queue_order_strategy": "priority",
            # kombu sweeps for expired unacknowledged messages every interval x throttle
            # seconds (100 s by default); sweep at a tenth of the visibility timeout so
            # that recovery takes about the timeout, not the timeout plus the sweep.
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout // 10)),
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options=redis_options,
        # Each queue its own exchange and key: queues sharing the default binding would
        # each get a copy of every message.
        task_queues=[Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
        task_default_queue=BULK,
        task_routes={
            MODERATE_REALTIME: {"queue": REALTIME, "routing_key": REALTIME},
            MODERATE_BULK: {"queue": BULK, "routing_key": BULK},
            SEND_CALLBACK: {"queue": CALLBACKS, "routing_key": CALLBACKS},
            SEND_ALERT: {"queue": CALLBACKS, "routing_key": CALLBACKS},
            PURGE_RETAINED_TEXT: {"queue": CALLBACKS, "routing_key": CALLBACKS},
            RUN_BATCH: {"queue": CALLBACKS, "routing_key": CALLBACKS},
        },
        # Celery beat (`guardq beat`): the periodic tasks. A purge nobody ran within an
        # interval expires instead of piling up behind a stopped worker.
        beat_schedule={
            "purge-retained-text": {
                "task": PURGE_RETAINED_TEXT,
                "schedule": float(settings.purge_interval_s),
                "options": {"expires": float(settings.purge_interval_s)},
            }
        },
        # One model per process: the solo pool runs tasks in the process that loaded it
        # (worker.celery_app explains why not prefork). The callbacks worker overrides it.
        worker_pool="solo",
        # Unacknowledged messages one worker may hold: enough for a full gather of
        # either queue; a worker gathers only while the queue has more waiting, so it
        # does not hoard messages another idle worker could take.
        worker_prefetch_multiplier=max(REALTIME_GATHER_MESSAGES, BULK_GATHER_MESSAGES),
        broker_connection_retry_on_startup=True,
        # Task events, so that Flower (`guardq flower`) lists guardq's tasks: workers
        # send received/started/succeeded/failed (worker.events for gathered
        # messages), producers send task-sent. The arguments they show come from
        # printable_arguments: ids and counts, never the texts.
        worker_send_task_events=True,
        task_send_sent_event=True,
        # guardq's own: read by guardq.submit, so that a producer's app carries it.
        guardq_bulk_task_items=settings.bulk_task_items,
    )
    return app


@lru_cache(maxsize=1)
def get_celery() -> Celery:
    """The Celery app of this process, on the configured broker, built once."""
    return make_celery()
