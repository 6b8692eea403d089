"""Task events for gathered messages, so that Flower shows guardq's tasks.

Celery's own worker sends task-received, -started and -succeeded for each message it
runs; a gathering task (``worker.gathering``) takes its messages past that path and
runs many in one call, so nothing would say what became of them.
These signal handlers send the same events for each gathered message: received when it
is buffered, started when its call begins, succeeded or failed when the call returns,
through the worker's own event dispatcher (enabled by ``worker_send_task_events``). The
arguments shown are the message's ``kwargsrepr``, which holds ids and counts, never
text (``guardq.queue``).
"""

from __future__ import annotations

import time
from typing import Any

from celery import signals, states

from worker.gathering import Gathering

# The worker's event dispatcher, as the first gathered message brings it; and when
# each running call began (solo pool: one at a time, but keyed to be safe).
_dispatcher: dict[str, Any] = {}
_started: dict[str, float] = {}


def _send(kind: str, uuid: str, **fields: Any) -> None:
    eventer = _dispatcher.get("eventer")
    if eventer is not None and eventer.enabled:
        eventer.send(kind, uuid=uuid, **fields)


@signals.task_received.connect
def _gathered_message_received(request: Any = None, **_kwargs: Any) -> None:
    if not isinstance(getattr(request, "task", None), Gathering):
        return  # Celery's strategy sent this one's event itself
    _dispatcher["eventer"] = request.eventer
    _send(
        "task-received",
        request.id,
        name=request.name,
        args=request.argsrepr,
        kwargs=request.kwargsrepr,
        root_id=request.root_id,
        parent_id=request.parent_id,
        retries=request.request_dict.get("retries", 0),
    )


def _requests(task: Any, args: Any) -> list[Any]:
    if not isinstance(task, Gathering) or not args:
        return []
    return list(args[0])


@signals.task_prerun.connect
def _gathered_call_started(task_id: str = "", task: Any = None, args: Any = None, **_: Any):
    requests = _requests(task, args)
    if requests:
        _started[task_id] = time.monotonic()
        for request in requests:
            _send("task-started", request.id)  # the dispatcher adds its pid


@signals.task_postrun.connect
def _gathered_call_done(
    task_id: str = "", task: Any = None, args: Any = None, state: str = "", **_: Any
) -> None:
    requests = _requests(task, args)
    runtime = time.monotonic() - _started.pop(task_id, time.monotonic())
    for request in requests:
        if state == states.SUCCESS:
            _send("task-succeeded", request.id, result="None", runtime=runtime)
        else:
            _send("task-failed", request.id, exception=f"the gathered call ended {state}")
