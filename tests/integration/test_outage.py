"""PostgreSQL stopped in the middle of a bulk job: throughout the outage the API answers
503 with ``Retry-After``, never 500; once the server is back the worker's retries carry
the job to the end, every item judged once.

It stops and starts the server the whole suite uses (``pg_ctlcluster``), so it runs only
as root on a Debian-style install, and it always starts the server again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from api.app import create_app
from api.outage import DATABASE_DOWN, RETRY_AFTER_S
from guardq.settings import Settings
from guardq.store.db import create_db_engine, session_scope
from guardq.store.db import session_factory as make_session_factory
from guardq.store.enums import JobStatus, KeyRole
from guardq.store.jobs import get_job
from guardq.store.keys import create_api_key
from guardq.store.models import Item, VerdictRecord

from ..conftest import MAINTENANCE_URL, live_server
from .conftest import MODEL

pytestmark = pytest.mark.integration

# Several of the worker's gathered calls (up to 512 items each), so that the server
# stops after the first verdicts and well before the last.
ITEMS = 960
# Short enough that the worker's retries (5, 10, 20 s; worker.tasks) outlast it.
OUTAGE_S = 5
SERVER_START_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def postgres_cluster() -> tuple[str, str]:
    """(version, name) of the local cluster serving the test database; skips, before any
    worker starts, if none can be controlled from here."""
    if os.geteuid() != 0:
        pytest.skip("stopping PostgreSQL needs root (pg_ctlcluster)")
    missing = [
        tool for tool in ("pg_ctlcluster", "pg_lsclusters", "pg_isready") if not shutil.which(tool)
    ]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: the test controls a Debian-style PostgreSQL")
    url = make_url(MAINTENANCE_URL)
    port = url.port or 5432
    if url.host not in (None, "localhost", "127.0.0.1", "::1"):
        pytest.skip(f"the test database is on {url.host}, not a local cluster")
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    ).stdout
    for line in listing.splitlines():
        version, name, cluster_port, *_ = line.split()
        if int(cluster_port) == port:
            return version, name
    pytest.skip(f"no cluster in pg_lsclusters serves port {port}")


def pg_ctlcluster(cluster: tuple[str, str], *action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, *action],
        check=False,
        capture_output=True,
    )


def wait_until_ready() -> None:
    url = make_url(MAINTENANCE_URL)
    argv = ["pg_isready", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while subprocess.run(argv, capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, "PostgreSQL did not come back: start it by hand"
        time.sleep(0.2)


@pytest.fixture
def api(services, celery_app, session_factory):
    """The API served by uvicorn on the integration services; yields an HTTP client
    holding a producer key."""
    settings = Settings(
        database_url=services.database_url, broker_url=services.broker_url, model=MODEL
    )
    engine = create_db_engine(services.database_url)
    app = create_app(settings, session_factory=make_session_factory(engine), celery_app=celery_app)
    with session_scope(session_factory) as session:
        key = create_api_key(session=session, name="outage", role=KeyRole.PRODUCER).key
    auth = {"Authorization": f"Bearer {key}"}
    with live_server(app) as url, httpx.Client(base_url=url, headers=auth) as client:
        yield client
    engine.dispose()


def wait_for_progress(session_factory, job_id: uuid.UUID, timeout: float = 180) -> int:
    """Items done once the worker has recorded its first verdicts of the job."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(session_factory) as session:
            done = get_job(session=session, job_id=job_id).done
        if done:
            return done
        assert time.monotonic() < deadline, f"job {job_id}: no verdict after {timeout} s"
        time.sleep(0.05)


def hammer(api, job_id: uuid.UUID, seconds: float) -> list[httpx.Response]:
    """Poll, submit and check health over and over for ``seconds``; every answer."""
    answers = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answers.append(api.get(f"/v1/jobs/{job_id}"))
        answers.append(api.post("/v1/jobs", json={"items": [{"text": "during the outage"}]}))
        answers.append(api.get("/healthz"))
        time.sleep(0.05)
    return answers


def verdicts_per_item(session_factory, job_id: uuid.UUID) -> dict[uuid.UUID, int]:
    with session_scope(session_factory) as session:
        rows = session.execute(
            select(Item.id, func.count(VerdictRecord.id))
            .outerjoin(VerdictRecord, VerdictRecord.item_id == Item.id)
            .where(Item.job_id == job_id)
            .group_by(Item.id)
        )
        return dict(rows.all())


def test_a_postgres_restart_mid_job_answers_503_and_the_job_ends_done_judged_once(
    postgres_cluster, api, session_factory, celery_worker, wait_for_job
):
    # Texts of their own: no verdict cache hit shortens the job.
    run = uuid.uuid4().hex
    items = [{"text": f"outage {run} message {i}"} for i in range(ITEMS)]
    submitted = api.post("/v1/jobs", json={"priority": "bulk", "items": items})
    assert submitted.status_code == 202, submitted.text
    job_id = uuid.UUID(submitted.json()["id"])
    done_before = wait_for_progress(session_factory, job_id)

    try:
        pg_ctlcluster(postgres_cluster, "stop", "-m", "fast")
        answers = hammer(api, job_id, OUTAGE_S)
    finally:
        pg_ctlcluster(postgres_cluster, "start")
        wait_until_ready()

    assert done_before < ITEMS, "the job ended before the outage began: give it more items"
    assert answers
    for answer in answers:
        where = f"{answer.request.method} {answer.request.url.path}"
        assert answer.status_code == 503, f"{where}: {answer.status_code} {answer.text}"
        assert answer.headers["retry-after"] == str(RETRY_AFTER_S), where
        body = answer.json()
        if answer.request.url.path == "/healthz":
            assert body["checks"]["database"].startswith("down"), where
        else:
            assert body == {"detail": DATABASE_DOWN}, where

    job = wait_for_job(job_id, timeout=180)
    assert (job.status, job.done, job.failed) == (JobStatus.DONE, ITEMS, 0), celery_worker.log()[
        -4000:
    ]
    counts = verdicts_per_item(session_factory, job_id)
    assert len(counts) == ITEMS
    assert set(counts.values()) == {1}
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "done"
    assert api.get("/healthz").status_code == 200
