"""Gathering messages into engine calls, by queue depth.

A ``Gathering`` task is not run once per message: the worker buffers its messages and
runs it once for all of them, ``run(requests)`` with their ``celery.worker.request.Request``
objects (``.id``, ``.kwargs``, ``.delivery_info``...). The buffer runs when
``flush_every`` messages are in it, when its oldest has waited ``flush_interval``
seconds, when no message has come for ``flush_quiet`` seconds (if set), and, the rule
that keeps latency low when the worker is idle and calls big when it is busy, as soon
as the task's queue in Redis has nothing more waiting
(``flush_when_idle``): a lone request runs at once; a backlog is taken ``flush_every``
messages at a time. Right after a call, though, an empty queue may hold a buffer
smaller than that call for up to ``linger`` seconds: that call's clients are about to
send again, and one call for all of them costs the engine's and the store's fixed
costs once instead of twice. ``flush_now()`` runs the buffer at once.

The messages stay unacknowledged until their call has returned, or raised (the tasks
retry by sending new messages: ``worker.tasks``), so a worker that dies while they wait
in the buffer or run loses none of them: Redis delivers them again after the visibility
timeout. A message sent with a countdown (guardq's retries) waits in the worker's timer
until it is due, then joins the buffer.

The call runs in the worker's own thread, as the solo pool runs every task (the
moderation workers run no other pool: ``worker.celery_app``), between the
``task_prerun`` and ``task_postrun`` signals that ``worker.events`` turns into each
message's task events.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from typing import Any

from celery import Task, signals, states
from celery.exceptions import InvalidTaskError
from celery.worker.request import Request
from kombu.utils.uuid import uuid
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Gathering(Task):
    # Callers send a message's kwargs; run() takes the gathered requests instead.
    typing = False
    # The Redis list of the task's queue (kombu names it after the queue).
    queue_name = ""
    flush_every = 10
    flush_interval = 30.0
    # Run the buffer as soon as the queue is empty. Off for bulk work: a job's tasks
    # reach the queue one by one while the producer sends them, so the first would
    # run alone (a 64-item engine call, then the rest); the timer gathers them instead,
    # at the cost of ``flush_interval`` for a lone bulk job.
    flush_when_idle = True
    # Without ``flush_when_idle``: run the buffer once no message has come for this many
    # seconds (0: off), ``flush_interval`` being then the longest a message waits. A
    # producer sends a job's tasks back to back, a few ms apart, but not always within
    # one fixed interval: a job of 16 tasks ran as calls of 14 and 2, the second a
    # small engine call of its own.
    flush_quiet = 0.0
    # With ``flush_when_idle``: how long an empty queue may hold back a buffer smaller
    # than the previous call, right after that call. Its requests' clients send their
    # next ones as the answers reach them, one API round trip apart; taken as they come
    # they make a call of one or two, then another of the rest, paying a call's fixed
    # cost (engine and store) twice. A lone client's calls are of one: never held.
    linger = 0.0

    _redis: Redis | None = None
    _buffer: _Buffer | None = None

    def Strategy(self, task: Any, app: Any, consumer: Any):  # noqa: N802 (Celery's name)
        # Celery asks again each time the worker reconnects to the broker. The old
        # buffer's messages are dropped, as Celery drops the messages it holds then:
        # they are unacknowledged, so Redis delivers them again.
        if self._buffer is not None and (dropped := self._buffer.close()):
            log.warning("%s: %d message(s) left for Redis to deliver again", self.name, dropped)
        self._buffer = _Buffer(self, app, consumer)
        return self._buffer.on_message

    def flush_now(self) -> None:
        """Run what is buffered now, in this thread (nothing outside a worker)."""
        if self._buffer is not None:
            self._buffer.flush()

    def waiting(self) -> int:
        """Messages waiting for this task's queue: in Redis, and the one this worker's
        pending BRPOP may have taken already (1 when Redis cannot say)."""
        if self._redis is None:
            self._redis = Redis.from_url(
                self.app.conf.broker_url, socket_timeout=2, socket_connect_timeout=2
            )
        try:
            listed = self._redis.llen(self.queue_name)
        except RedisError:
            return 1  # unknown: let flush_every or the timer decide
        return listed + (self._buffer is not None and self._buffer.taken(self.queue_name))


class _Buffer:
    """One gathering task's messages on one broker connection of the worker."""

    def __init__(self, task: Gathering, app: Any, consumer: Any) -> None:
        self.task, self.app, self.consumer = task, app, consumer
        self.requests: list[Request] = []
        self.flush_timer: Any = None
        self.oldest_at = 0.0  # when the buffer's first message came
        # The previous call: how many messages it ran, and when it ended.
        self.last_size, self.last_end = 0, 0.0
        # Messages with an ETA, each with its entry in the worker's timer.
        self.held: dict[Request, Any] = {}

    def on_message(self, message, body, ack, reject, callbacks) -> None:
        # The consumer's handler for this task's messages (Celery's strategy interface).
        if body is not None:  # decoded by the consumer: a protocol 1 message
            raise InvalidTaskError(f"{self.task.name} takes task protocol 2 messages only")
        consumer = self.consumer
        request = Request(
            message,
            on_ack=ack,
            on_reject=reject,
            app=self.app,
            hostname=consumer.hostname,
            eventer=consumer.event_dispatcher,
            task=self.task,
            connection_errors=consumer.connection_errors,
            utc=self.app.uses_utc_timezone(),
        )
        signals.task_received.send(sender=consumer, request=request)
        if request.eta is None:
            self.add(request)
            return
        # Held outside the prefetch limit, as Celery holds any message with an ETA, so
        # that retries waiting for their turn do not stop the worker taking others.
        consumer.qos.increment_eventually()
        self.held[request] = consumer.timer.call_at(request.eta, self.due, (request,), priority=6)

    def taken(self, queue: str) -> bool:
        """Whether the worker's pending BRPOP has taken a message of ``queue`` that the
        worker has not read yet. A call run by a timer runs inside the worker's event
        loop, and when the timer is sooner than the BRPOP's own timeout (a second) that
        BRPOP is still out: Redis hands it the next message (say, a realtime request),
        which waits in the socket, in no list, until the call ends.
        The reply is peeked at, not read (its head names the list); any doubt is False.
        """
        try:
            connection = self.consumer.task_consumer.channel._in_poll
            head = connection._sock.recv(128, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except Exception:  # no BRPOP out, nothing arrived, another transport: not taken
            return False
        # RESP: *2 $len <list name> $len <message>; a priority list is <queue>\x06\x16<n>.
        return (
            re.match(rb"\*2\r\n\$\d+\r\n" + re.escape(queue.encode()) + rb"(\r\n|\x06\x16)", head)
            is not None
        )

    def due(self, request: Request) -> None:
        del self.held[request]
        self.consumer.qos.decrement_eventually()
        self.add(request)

    def add(self, request: Request) -> None:
        self.requests.append(request)
        task = self.task
        if len(self.requests) >= task.flush_every:
            self.flush()
        elif task.flush_when_idle and task.waiting() == 0:
            if not self.lingering():
                self.flush()
            elif self.flush_timer is None:
                self.flush_timer = self.consumer.timer.call_after(task.linger, self.flush)
        else:
            self.set_timer()

    def set_timer(self) -> None:
        """Time the run of a buffer that nothing else runs: ``flush_interval`` after its
        oldest message, or sooner, ``flush_quiet`` after its newest."""
        task, now = self.task, time.monotonic()
        if self.flush_timer is None:
            self.oldest_at = now
        elif not task.flush_quiet:
            return
        else:
            self.flush_timer.cancel()
        wait = task.flush_interval - (now - self.oldest_at)
        if task.flush_quiet:
            wait = min(wait, task.flush_quiet)
        self.flush_timer = self.consumer.timer.call_after(max(0.0, wait), self.flush)

    def lingering(self) -> bool:
        """Whether to hold an idle queue's buffer for ``linger``: it is smaller than the
        previous call, which ended within ``linger`` of now (else that call's clients
        are not about to send)."""
        linger = self.task.linger
        return (
            linger > 0
            and len(self.requests) < self.last_size
            and time.monotonic() - self.last_end < linger
        )

    def flush(self) -> None:
        if self.flush_timer is not None:
            self.flush_timer.cancel()
            self.flush_timer = None
        requests, self.requests = self.requests, []
        if requests:
            self.run(requests)

    def close(self) -> int:
        """Cancel the timer entries and drop the messages; how many were dropped."""
        for entry in [self.flush_timer, *self.held.values()]:
            if entry is not None:
                entry.cancel()
        dropped = len(self.requests) + len(self.held)
        self.requests, self.held, self.flush_timer = [], {}, None
        return dropped

    def run(self, requests: list[Request]) -> None:
        task, args = self.task, (requests,)
        call_id = uuid()  # the call's own: it runs many messages
        signals.task_prerun.send(sender=task, task_id=call_id, task=task, args=args, kwargs={})
        retval, state = None, states.FAILURE
        try:
            retval = task(requests)
            state = states.SUCCESS
        except Exception:
            log.exception("%s: a call of %d gathered message(s) raised", task.name, len(requests))
        finally:
            signals.task_postrun.send(
                sender=task,
                task_id=call_id,
                task=task,
                args=args,
                kwargs={},
                retval=retval,
                state=state,
            )
        # Not reached when the worker is exiting (SystemExit): Redis delivers them again.
        for request in requests:
            request.acknowledge()
        self.last_size, self.last_end = len(requests), time.monotonic()
