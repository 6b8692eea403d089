"""The pipeline with the real demo model on the real Postgres store: one engine stream
whose waves are written while the next runs, exactly one outcome per item, and bulk
work that steps aside for realtime work."""

from __future__ import annotations

import uuid
from dataclasses import replace

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


@pytest.fixture(scope="module")
def small_waves(engine):
    """The same model with a budget of a few rows a batch: several waves per stream."""
    return GuardEngine(
        engine.model, engine.tokenizer, params=replace(engine.params, max_batch_tokens=64)
    )


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


def test_a_batch_in_several_waves_records_each_item_once(postgres_factory, small_waves):
    marker = uuid.uuid4().hex
    # Eleven distinct texts and one repeated, over several waves.
    texts = [f"Item {n} of the batch {marker}" for n in range(11)] + [
        f"Item 0 of the batch {marker}"
    ]
    job, work = make_work(postgres_factory, texts)

    report = process(postgres_factory, small_waves, work)
    again = process(postgres_factory, small_waves, work)

    assert (report.total("inferred"), report.total("cached")) == (11, 1)
    assert report.finished_jobs == [job.id]
    assert again.total("skipped") == 12 and not again.finished_jobs
    with session_scope(postgres_factory) as session:
        progress = get_job(session=session, job_id=job.id)
        verdicts = session.scalar(select(func.count()).select_from(VerdictRecord))
        cached = session.scalar(select(func.count()).select_from(VerdictCacheEntry))
    assert (progress.status, progress.done, progress.failed) == (JobStatus.DONE, 12, 0)
    assert (verdicts, cached) == (12, 11)


def test_bulk_work_defers_its_remaining_waves_when_realtime_work_waits(
    postgres_factory, small_waves
):
    texts = [f"Deferred item {n} {uuid.uuid4().hex}" for n in range(7)]
    job, work = make_work(postgres_factory, texts)

    report = process(postgres_factory, small_waves, work, yield_to=lambda: True)

    # The first wave ran; the rest wait for the caller to queue them again.
    ran = report.total("inferred")
    assert 0 < ran < 7 and len(report.deferred) == 7 - ran
    deferred = {p.item.item_id for p in report.deferred}
    with session_scope(postgres_factory) as session:
        judged = set(
            session.scalars(
                select(VerdictRecord.item_id).where(
                    VerdictRecord.item_id.in_([w.item_id for w in work])
                )
            )
        )
    assert judged.isdisjoint(deferred) and judged | deferred == {w.item_id for w in work}
    rest = process(postgres_factory, small_waves, [p.item for p in report.deferred])
    assert rest.total("inferred") == 7 - ran and rest.finished_jobs == [job.id]
