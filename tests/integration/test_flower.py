"""`guardq flower` against a real worker: after a job, Flower's HTTP API lists the job's
tasks as succeeded, behind basic auth, and shows no submitted text."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from guardq.settings import REPO_ROOT
from guardq.store.enums import JobStatus, Priority
from guardq.store.jobs import NewItem
from guardq.submit import submit_job
from guardq.verdict import Mode

pytestmark = pytest.mark.integration

USER, PASSWORD = "ops", "flower-test-password"
FLOWER_START_TIMEOUT_S = 120
TASKS_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def flower(services, tmp_path):
    port = _free_port()
    env = {**services.env, "GUARDQ_FLOWER_USER": USER, "GUARDQ_FLOWER_PASSWORD": PASSWORD}
    log = (tmp_path / "flower.log").open("wb")
    argv = [sys.executable, "-m", "guardq.cli", "flower", "--port", str(port)]
    argv += ["--address", "127.0.0.1"]
    process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        print((tmp_path / "flower.log").read_text(errors="replace")[-3000:])


def _wait_for_worker(base: str, worker: str) -> None:
    deadline = time.monotonic() + FLOWER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{base}/api/workers", auth=(USER, PASSWORD), timeout=10)
            if answer.status_code == 200 and worker in answer.json():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"Flower did not list {worker} within {FLOWER_START_TIMEOUT_S} s")


def _job_tasks(base: str, job_id: uuid.UUID) -> dict[str, dict]:
    answer = httpx.get(f"{base}/api/tasks", auth=(USER, PASSWORD), timeout=10)
    answer.raise_for_status()
    return {
        task_id: task
        for task_id, task in answer.json().items()
        if str(job_id) in str(task.get("kwargs"))
    }


def test_flower_lists_a_jobs_tasks_as_succeeded(
    services, session_factory, celery_app, celery_worker, wait_for_job, flower
):
    base, process = flower
    _wait_for_worker(base, celery_worker.name)
    assert httpx.get(f"{base}/api/tasks", timeout=10).status_code == 401
    assert httpx.get(f"{base}/api/tasks", auth=(USER, "wrong"), timeout=10).status_code == 401

    marker = uuid.uuid4().hex
    texts = [f"A quiet afternoon in the park {marker} {n}" for n in range(20)]
    job = submit_job(
        session_factory=session_factory,
        mode=Mode.PROMPT,
        priority=Priority.REALTIME,
        items=[NewItem(text=text) for text in texts],
        model_id=services.env["GUARDQ_MODEL"],
        app=celery_app,
    )
    assert wait_for_job(job.id).status is JobStatus.DONE

    # 20 realtime items travel as 3 messages of at most 8 (guardq.queue).
    deadline = time.monotonic() + TASKS_TIMEOUT_S
    tasks = _job_tasks(base, job.id)
    while time.monotonic() < deadline:
        tasks = _job_tasks(base, job.id)
        if len(tasks) == 3 and all(task["state"] == "SUCCESS" for task in tasks.values()):
            break
        time.sleep(0.5)
    assert len(tasks) == 3, tasks
    assert {task["state"] for task in tasks.values()} == {"SUCCESS"}, tasks
    assert all(task["received"] and task["started"] for task in tasks.values()), tasks
    assert {task["name"] for task in tasks.values()} == {"guardq.moderate_realtime"}
    assert {task["worker"] for task in tasks.values()} == {celery_worker.name}
    answer = httpx.get(f"{base}/api/tasks", auth=(USER, PASSWORD), timeout=10)
    assert marker not in answer.text
    assert process.poll() is None


def test_flower_refuses_to_start_without_a_password(services):
    env = {**services.env}
    env.pop("GUARDQ_FLOWER_PASSWORD", None)
    done = subprocess.run(
        [sys.executable, "-m", "guardq.cli", "flower"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("guardq: error: GUARDQ_FLOWER_PASSWORD is not set")
