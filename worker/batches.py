"""The Batch API's task: ``guardq.run_batch`` moves a batch along (``worker.batch_runner``).

It runs on the callbacks worker (threads pool, no model): reading an input file into
bulk jobs and writing output files is store work, and must not hold a GPU worker.
Acknowledged late like every guardq task; a redelivered run resumes where the last one
stopped.
"""

from __future__ import annotations

import uuid

from guardq.queue import RUN_BATCH
from guardq.settings import get_settings
from guardq.store.db import get_session_factory
from worker.batch_runner import advance
from worker.celery_app import app


@app.task(name=RUN_BATCH, ignore_result=True)
def run_batch(batch_id: str, poll: int = 0) -> None:
    advance(
        uuid.UUID(batch_id),
        factory=get_session_factory(),
        settings=get_settings(),
        app=app,
        poll=poll,
    )
