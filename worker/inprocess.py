"""The embedded default: jobs run in this process, by the pipeline the workers run.

With no broker configured, ``guardq label`` (and ``guardq demo``) create their jobs in
the audit store (SQLite unless ``GUARDQ_DATABASE_URL`` says otherwise) and hand the
items straight to ``worker.pipeline.process_items``, exactly as a Celery task would.
"""

from __future__ import annotations

import uuid

from guardq.labeling.runner import read_results
from guardq.store.db import create_db_engine, resolve_url, session_factory, session_scope
from guardq.store.enums import Priority
from guardq.store.jobs import ItemResult, NewItem, create_job
from guardq.store.migrate import upgrade_database
from guardq.verdict import Mode
from worker.pipeline import WorkItem
from worker.runtime import Runtime, build_runtime


def embedded_runtime(*, model: str | None = None, database_url: str | None = None) -> Runtime:
    """A runtime on a migrated store (``database_url``, else the configured or embedded
    one) with ``model`` loaded on the configured device."""
    url = resolve_url(database_url)
    upgrade_database(url)
    return build_runtime(model=model, session_factory=session_factory(create_db_engine(url)))


class InProcessExecutor:
    """Runs each submitted job to completion before ``submit`` returns."""

    depth = 1

    def __init__(self, runtime: Runtime, *, mode: Mode, batch_items: int = 64) -> None:
        self.runtime, self.mode, self.batch_items = runtime, mode, batch_items

    def submit(self, items: list[NewItem]) -> uuid.UUID:
        with session_scope(self.runtime.session_factory) as session:
            job = create_job(
                session=session,
                mode=self.mode,
                items=items,
                model_id=self.runtime.model_id,
                priority=Priority.BULK,
            )
        work = [
            WorkItem(item_id=created.id, mode=self.mode, text=item.text, prompt=item.prompt)
            for created, item in zip(job.items, items, strict=True)
        ]
        for start in range(0, len(work), self.batch_items):
            self.runtime.process(work[start : start + self.batch_items])
        return job.id

    def results(self, job_id: uuid.UUID) -> list[ItemResult]:
        return read_results(self.runtime.session_factory, job_id)
