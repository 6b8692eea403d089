"""``worker.gathering`` in real ``celery worker`` processes (the tasks of
tests/worker/gathering_app.py, model-free) on the real Redis: when a buffer runs, and
that its messages are acknowledged only once their call has returned or raised.

The end-to-end cases live with the guardq workers in tests/integration (a worker killed
mid-call: test_tasks_lost_worker.py; task events: test_flower.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from redis import Redis

from guardq.queue import make_celery
from guardq.settings import Settings

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
# The shortest guardq allows: the killed worker's messages come back within seconds.
VISIBILITY_TIMEOUT = 10
# kombu keeps a delivered, unacknowledged message in this hash until it is acknowledged,
# and when it was delivered in this sorted set.
UNACKED, UNACKED_INDEX = "unacked", "unacked_index"


class CeleryWorker:
    """``celery -A gathering_app worker`` in its own process group, logging to a file."""

    def __init__(self, broker_url: str, queues: str, log_path: Path) -> None:
        self.log_path = log_path
        env = {
            **os.environ,
            "GUARDQ_BROKER_URL": broker_url,
            "GUARDQ_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        }
        argv = [
            sys.executable, "-m", "celery", "-A", "gathering_app", "worker", "--pool", "solo",
            "-Q", queues, "-n", f"{log_path.stem}@%h", "--loglevel", "INFO",
            "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(lambda: " ready." in self.log() or self.process.poll() is not None, 60)
        assert self.process.poll() is None, self.log()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def wait_for(condition, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.05)
    return value


class Broker:
    """The test's side of a Redis database: sends the tasks, reads their calls."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.redis = Redis.from_url(url)
        self.app = make_celery(Settings(broker_url=url, visibility_timeout=VISIBILITY_TIMEOUT))

    def send(self, task: str, key: str, n: int, countdown: float | None = None, **options):
        self.app.send_task(
            f"gathered.{task}",
            kwargs={"key": key, "n": n, **options},
            queue=task,
            countdown=countdown,
            ignore_result=True,
        )

    def calls(self, key: str) -> list[dict]:
        return [json.loads(record) for record in self.redis.lrange(key, 0, -1)]

    def unacknowledged(self) -> int:
        return self.redis.hlen(UNACKED)

    def taken_since(self, since: float) -> int:
        """Unacknowledged messages a worker took after ``since`` (a time.time())."""
        return self.redis.zcount(UNACKED_INDEX, since, "+inf")

    def close(self) -> None:
        self.app.close()
        self.redis.close()


@pytest.fixture(scope="module")
def broker(make_redis_database):
    broker = Broker(make_redis_database())
    yield broker
    broker.close()


@pytest.fixture(scope="module")
def worker(broker, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("gathering") / "gathering.log"
    worker = CeleryWorker(broker.url, "every,idle,timer,linger,quiet", log_path)
    yield worker
    worker.kill()


@pytest.fixture
def key():
    return uuid.uuid4().hex


def numbers(calls: list[dict]) -> list[list[int]]:
    return [call["n"] for call in calls]


def test_a_buffer_runs_when_flush_every_messages_are_in_it(broker, worker, key):
    for n in range(7):
        broker.send("every", key, n)
    wait_for(lambda: len(broker.calls(key)) == 2)
    time.sleep(1)
    # The seventh waits (the timer is ten minutes away), unacknowledged.
    assert numbers(broker.calls(key)) == [[0, 1, 2], [3, 4, 5]]
    assert broker.unacknowledged() == 1
    broker.send("every", key, 7)
    broker.send("every", key, 8)
    wait_for(lambda: len(broker.calls(key)) == 3)
    assert numbers(broker.calls(key))[2] == [6, 7, 8]
    wait_for(lambda: broker.unacknowledged() == 0)


def test_an_empty_queue_runs_the_buffer_at_once_and_a_backlog_runs_as_one_call(broker, worker, key):
    broker.send("idle", key, 0, sleep=2)
    wait_for(lambda: broker.calls(key))
    # Sent while the worker is busy with the first call: they wait in Redis, and the
    # worker gathers them all before its queue is empty again.
    for n in range(1, 6):
        broker.send("idle", key, n)
    wait_for(lambda: len(broker.calls(key)) == 2)
    assert numbers(broker.calls(key)) == [[0], [1, 2, 3, 4, 5]]


def test_right_after_a_call_a_smaller_buffer_lingers_for_that_calls_clients(broker, worker, key):
    broker.send("linger", key, 0, sleep=2)
    wait_for(lambda: broker.calls(key))
    for n in (1, 2, 3):  # sent during the first call: a backlog, one call of three
        broker.send("linger", key, n)
    wait_for(lambda: len(broker.calls(key)) == 2)
    # Right after a call of three, one message waits for more, and three run at once
    # (well before the linger of a second is over).
    broker.send("linger", key, 4)
    time.sleep(0.3)
    assert len(broker.calls(key)) == 2
    broker.send("linger", key, 5)
    sent = time.time()
    broker.send("linger", key, 6)
    wait_for(lambda: len(broker.calls(key)) == 3)
    assert broker.calls(key)[2]["at"] - sent < 0.5
    # A lone message after it waits out the linger, then runs alone.
    sent = time.time()
    broker.send("linger", key, 7)
    wait_for(lambda: len(broker.calls(key)) == 4)
    assert 0.9 < broker.calls(key)[3]["at"] - sent < 5
    # Long after any call, nobody is about to send: a message runs at once.
    time.sleep(1.5)
    sent = time.time()
    broker.send("linger", key, 8)
    wait_for(lambda: len(broker.calls(key)) == 5)
    assert broker.calls(key)[4]["at"] - sent < 0.5
    assert numbers(broker.calls(key)) == [[0], [1, 2, 3], [4, 5, 6], [7], [8]]


def test_the_timer_runs_a_buffer_that_nothing_else_would(broker, worker, key):
    sent = time.time()
    broker.send("timer", key, 0)
    broker.send("timer", key, 1)
    (call,) = wait_for(lambda: broker.calls(key))
    assert call["n"] == [0, 1]
    assert 0.9 < call["at"] - sent < 10


def test_a_quiet_buffer_runs_once_messages_stop_coming_and_at_most_its_interval_after_the_first(
    broker, worker, key
):
    # Five messages 0.2 s apart, each within the quiet time of the one before: one call,
    # half a second after the last.
    for n in range(5):
        broker.send("quiet", key, n)
        last = time.time()
        time.sleep(0.2)
    (call,) = wait_for(lambda: broker.calls(key))
    assert call["n"] == [0, 1, 2, 3, 4]
    assert 0.4 < call["at"] - last < 2
    # A steady trickle never goes quiet: the interval (3 s from the first) runs it.
    first = time.time()
    for n in range(5, 25):
        broker.send("quiet", key, n)
        time.sleep(0.2)
    wait_for(lambda: len(broker.calls(key)) >= 3)
    second = broker.calls(key)[1]
    assert second["n"][0] == 5 and 10 <= len(second["n"]) <= 17
    assert 2.8 < second["at"] - first < 4.5
    wait_for(lambda: sum(len(call["n"]) for call in broker.calls(key)) == 25)
    wait_for(lambda: broker.unacknowledged() == 0)


def test_a_message_the_pending_brpop_took_during_a_timer_run_call_counts_as_waiting(
    broker, worker, key
):
    # A call run by a timer sooner than kombu's BRPOP timeout (1 s) runs inside the
    # worker's event loop with that BRPOP out: Redis hands it the next message, which
    # leaves the list for the socket.
    broker.send("quiet", key, 0, sleep=1.5, peek="idle")
    wait_for(lambda: broker.calls(key))
    other = uuid.uuid4().hex
    broker.send("idle", other, 1)
    (_, peeked) = wait_for(lambda: broker.calls(key)[1:] and broker.calls(key))
    assert peeked == {"task": "quiet", "waiting": 1}
    # Nothing was read from the socket: the message runs once the call is over.
    (call,) = wait_for(lambda: broker.calls(other))
    assert call["n"] == [1]
    wait_for(lambda: broker.unacknowledged() == 0)


def test_a_message_is_acknowledged_once_its_call_has_returned(broker, worker, key):
    broker.send("idle", key, 0, sleep=2)
    wait_for(lambda: broker.calls(key))
    assert broker.unacknowledged() == 1  # running
    wait_for(lambda: broker.unacknowledged() == 0)


def test_a_call_that_raised_still_acknowledges_its_messages(broker, worker, key):
    broker.send("idle", key, 0, fail=True)
    wait_for(lambda: broker.calls(key))
    wait_for(lambda: broker.unacknowledged() == 0)
    assert "gathered.idle: a call of 1 gathered message(s) raised" in worker.log()
    assert "RuntimeError: asked to fail" in worker.log()
    assert broker.redis.llen("idle") == 0


def test_a_countdown_holds_its_message_and_no_other(broker, worker, key):
    sent = time.time()
    broker.send("idle", key, 0, countdown=2)
    broker.send("idle", key, 1)
    wait_for(lambda: len(broker.calls(key)) == 2)
    early, due = broker.calls(key)
    assert (early["n"], due["n"]) == ([1], [0])
    assert early["at"] - sent < 1.5 < due["at"] - sent


def test_flush_now_runs_another_tasks_buffer_first(broker, worker, key):
    broker.send("every", key, 0)  # waits: two more would run it
    broker.send("idle", key, 1, flush="every")
    wait_for(lambda: len(broker.calls(key)) == 2)
    assert [(call["task"], call["n"]) for call in broker.calls(key)] == [
        ("idle", [1]),
        ("every", [0]),
    ]
    wait_for(lambda: broker.unacknowledged() == 0)


def test_a_worker_killed_with_messages_in_its_buffer_loses_none(make_redis_database, tmp_path):
    url = make_redis_database()
    broker = Broker(url)
    key = uuid.uuid4().hex
    try:
        victim = CeleryWorker(url, "every", tmp_path / "victim.log")
        broker.send("every", key, 0)
        broker.send("every", key, 1)
        wait_for(lambda: broker.unacknowledged() == 2)
        victim.kill()
        killed = time.time()
        assert broker.calls(key) == []

        rescuer = CeleryWorker(url, "every", tmp_path / "rescuer.log")
        try:
            # Redis gives both back after the visibility timeout, and the rescuer takes
            # them (kombu's index of unacknowledged messages says when each was taken).
            wait_for(
                lambda: broker.unacknowledged() == 2 and broker.taken_since(killed) == 2,
                timeout=VISIBILITY_TIMEOUT + 30,
            )
            broker.send("every", key, 2)  # the third runs the buffer
            (call,) = wait_for(lambda: broker.calls(key))
        finally:
            rescuer.kill()
        assert sorted(call["n"]) == [0, 1, 2]
    finally:
        broker.close()
