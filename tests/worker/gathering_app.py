"""The app of the ``celery worker``s that tests/worker/test_gathering.py starts: gathering
tasks, model-free, on guardq's Celery configuration (``make_celery``: late acks, the solo
pool, its prefetch) and the broker GUARDQ_BROKER_URL names.

Each call appends ``{"task": ..., "n": [...], "at": time}`` (the ``n`` of its messages)
to the Redis list named by its messages' ``key``, as it starts. A message may ask the
call to run another task's buffer first (``"flush": "every"``), to sleep before it
returns (``"sleep": seconds``), then to append ``{"task": ..., "waiting": n}``, what
another task's ``waiting()`` says (``"peek": "idle"``), or to raise (``"fail": true``).
"""

from __future__ import annotations

import json
import time

from redis import Redis

from guardq.queue import make_celery
from worker.gathering import Gathering

app = make_celery()
_calls = Redis.from_url(app.conf.broker_url)


def _call(name: str, requests) -> None:
    options = requests[0].kwargs
    record = {"task": name, "n": [r.kwargs["n"] for r in requests], "at": time.time()}
    _calls.rpush(options["key"], json.dumps(record))
    if "flush" in options:
        app.tasks[f"gathered.{options['flush']}"].flush_now()
    time.sleep(options.get("sleep", 0))
    if "peek" in options:
        waiting = app.tasks[f"gathered.{options['peek']}"].waiting()
        _calls.rpush(options["key"], json.dumps({"task": name, "waiting": waiting}))
    if options.get("fail"):
        raise RuntimeError("asked to fail")


# Runs at 3 messages only: no timer to speak of, and an empty queue does not run it.
@app.task(
    name="gathered.every",
    base=Gathering,
    queue_name="every",
    flush_every=3,
    flush_interval=600,
    flush_when_idle=False,
)
def every(requests) -> None:
    _call("every", requests)


# Runs as soon as its queue is empty.
@app.task(
    name="gathered.idle",
    base=Gathering,
    queue_name="idle",
    flush_every=100,
    flush_interval=600,
)
def idle(requests) -> None:
    _call("idle", requests)


# Runs on its timer only.
@app.task(
    name="gathered.timer",
    base=Gathering,
    queue_name="timer",
    flush_every=100,
    flush_interval=1.0,
    flush_when_idle=False,
)
def timer(requests) -> None:
    _call("timer", requests)


# Runs as soon as its queue is empty, unless it holds fewer messages than its previous
# call and that call ended under a second ago: then it lingers up to a second for more.
@app.task(
    name="gathered.linger",
    base=Gathering,
    queue_name="linger",
    flush_every=100,
    flush_interval=600,
    linger=1.0,
)
def linger(requests) -> None:
    _call("linger", requests)


# Runs once no message has come for half a second, and at most three seconds after the
# first.
@app.task(
    name="gathered.quiet",
    base=Gathering,
    queue_name="quiet",
    flush_every=100,
    flush_interval=3.0,
    flush_quiet=0.5,
    flush_when_idle=False,
)
def quiet(requests) -> None:
    _call("quiet", requests)
