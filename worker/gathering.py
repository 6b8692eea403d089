"""Gathering messages into engine calls, by queue depth.

``celery_batches.Batches`` buffers a task's messages and runs them as one call when
``flush_every`` have arrived or every ``flush_interval`` seconds. ``Gathering`` adds the
rule that keeps latency low when the worker is idle and calls big when it is busy: the
buffer also runs as soon as the task's queue in Redis has nothing more waiting. A
lone request runs at once; a backlog is taken ``flush_every`` messages at a time.

The messages stay unacknowledged until their call returns (``task_acks_late``), so a
worker that dies while they wait in the buffer loses none of them.
"""

from __future__ import annotations

import logging
from typing import Any

from celery_batches import Batches
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Gathering(Batches):
    abstract = True
    # The Redis list of the task's queue (kombu names it after the queue).
    queue_name = ""
    # Run the buffer as soon as the queue is empty. Off for bulk work: a job's tasks
    # reach the queue one by one while the producer sends them, so the first would
    # run alone (a 64-item engine call, then the rest); the timer gathers them instead,
    # at the cost of ``flush_interval`` for a lone bulk job.
    flush_when_idle = True

    _redis: Redis | None = None

    def waiting(self) -> int:
        """Messages waiting in Redis for this task's queue (1 when Redis cannot say)."""
        if self._redis is None:
            self._redis = Redis.from_url(
                self.app.conf.broker_url, socket_timeout=2, socket_connect_timeout=2
            )
        try:
            return self._redis.llen(self.queue_name)
        except RedisError:
            return 1  # unknown: let flush_every or the timer decide

    def Strategy(self, task: Any, app: Any, consumer: Any):  # noqa: N802 (Celery's name)
        handle = super().Strategy(task, app, consumer)

        def handle_and_maybe_flush(message, body, ack, reject, callbacks, **kwargs) -> None:
            handle(message, body, ack, reject, callbacks, **kwargs)
            if task.flush_when_idle and not task._buffer.empty() and task.waiting() == 0:
                task._do_flush()

        return handle_and_maybe_flush
