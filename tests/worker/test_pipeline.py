"""The pipeline with the real demo model on the real Postgres store: engine calls in
parts with their writes overlapped, exactly one outcome per item, and bulk work that
steps aside for realtime work."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from guardq.policy import Policy
from guardq.settings import DEMO_MODEL
from guardq.store.db import session_scope
from guardq.store.enums import JobStatus
from guardq.store.jobs import NewItem, create_job, get_job
from guardq.store.models import VerdictCacheEntry, VerdictRecord
from guardq.verdict import Mode
from worker.engine import GuardEngine
from worker.pipeline import WorkItem, process_items

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine():
    if not (DEMO_MODEL / "model.safetensors").is_file():
        pytest.skip("models/demo has no weights yet (run models/build_demo.py)")
    return GuardEngine.load(str(DEMO_MODEL), device="cpu")


def make_work(factory, texts):
    with session_scope(factory) as session:
        job = create_job(
            session=session, mode=Mode.PROMPT, items=[NewItem(t) for t in texts], model_id="demo"
        )
    work = [
        WorkItem(item_id=created.id, mode=Mode.PROMPT, text=text)
        for created, text in zip(job.items, texts, strict=True)
    ]
    return job, work


def process(factory, engine, work, **kwargs):
    return process_items(
        work, engine=engine, session_factory=factory, model_id="demo", policy=Policy(), **kwargs
    )


def test_a_batch_in_several_engine_calls_records_each_item_once(postgres_factory, engine):
    marker = uuid.uuid4().hex
    # Eleven distinct texts and one repeated: four engine calls of three.
    texts = [f"Item {n} of the batch {marker}" for n in range(11)] + [
        f"Item 0 of the batch {marker}"
    ]
    job, work = make_work(postgres_factory, texts)

    report = process(postgres_factory, engine, work, part_items=3)
    again = process(postgres_factory, engine, work, part_items=3)

    assert (report.total("inferred"), report.total("cached")) == (11, 1)
    assert report.finished_jobs == [job.id]
    assert again.total("skipped") == 12 and not again.finished_jobs
    with session_scope(postgres_factory) as session:
        progress = get_job(session=session, job_id=job.id)
        verdicts = session.scalar(select(func.count()).select_from(VerdictRecord))
        cached = session.scalar(select(func.count()).select_from(VerdictCacheEntry))
    assert (progress.status, progress.done, progress.failed) == (JobStatus.DONE, 12, 0)
    assert (verdicts, cached) == (12, 11)


def test_bulk_work_defers_its_remaining_calls_when_realtime_work_waits(postgres_factory, engine):
    texts = [f"Deferred item {n} {uuid.uuid4().hex}" for n in range(7)]
    job, work = make_work(postgres_factory, texts)

    report = process(postgres_factory, engine, work, part_items=3, yield_to=lambda: True)

    # The first call ran; the rest wait for the caller to queue them again.
    assert report.total("inferred") == 3
    assert sorted(p.item.item_id for p in report.deferred) == sorted(w.item_id for w in work[3:])
    rest = process(postgres_factory, engine, [p.item for p in report.deferred])
    assert rest.total("inferred") == 4 and rest.finished_jobs == [job.id]


def test_engine_calls_end_with_a_short_one_so_the_last_write_is_short():
    from worker.pipeline import _parts

    assert _parts(0, 512) == []
    assert _parts(5, 512) == [slice(0, 5)]
    assert _parts(512, 512) == [slice(0, 512)]
    parts = _parts(1000, 512)
    assert parts == [slice(0, 512), slice(512, 936), slice(936, 1000)]
    sizes = [p.stop - p.start for p in _parts(5000, 512)]
    assert sum(sizes) == 5000 and max(sizes) == 512 and sizes[-1] == 64
