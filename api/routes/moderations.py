"""``POST /v1/moderations``: OpenAI's moderation endpoint, answered by guardq's workers.

It submits a realtime prompt-mode job and waits for its verdicts by polling the store, up
to GUARDQ_MODERATION_TIMEOUT_S; past that it answers 504 with the job id, which the
caller can poll at ``/v1/jobs/{id}``. See ``api.openai_compat`` for the category mapping.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from api.deps import ProducerKey
from api.errors import FieldError, InputError
from api.openai_compat import accepts_model, moderation_result, public_model_name
from api.schemas import ModerationRequest, ModerationResponse
from api.submission import submit
from api.validation import moderation_items
from api.views import job_path
from guardq.store.db import session_scope
from guardq.store.enums import JobStatus, Priority
from guardq.store.jobs import MAX_PAGE, ItemResult, get_job, list_results
from guardq.verdict import Mode

router = APIRouter(tags=["moderations"])

_FIRST_POLL_S = 0.02
_MAX_POLL_S = 0.25


def _finished_results(factory: sessionmaker[Session], job_id: uuid.UUID) -> list[ItemResult] | None:
    """Every result of the job once it has finished, else None."""
    with session_scope(factory) as session:
        job = get_job(session=session, job_id=job_id)
        if job is None:  # deleted while we waited: nothing to report
            return []
        if job.status not in (JobStatus.DONE, JobStatus.FAILED):
            return None
        rows: list[ItemResult] = []
        while len(rows) < job.total:
            after = rows[-1].index if rows else -1
            page = list_results(session=session, job_id=job_id, after_index=after, limit=MAX_PAGE)
            if not page:
                break
            rows.extend(page)
        return rows


async def _wait(
    factory: sessionmaker[Session], job_id: uuid.UUID, timeout_s: float
) -> list[ItemResult] | None:
    deadline = time.monotonic() + timeout_s
    delay = _FIRST_POLL_S
    while True:
        rows = await run_in_threadpool(_finished_results, factory, job_id)
        remaining = deadline - time.monotonic()
        if rows is not None or remaining <= 0:
            return rows
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_POLL_S)


@router.post("/v1/moderations", response_model=ModerationResponse)
async def create_moderation(
    body: ModerationRequest, key: ProducerKey, request: Request
) -> ModerationResponse:
    """Moderate ``input`` (a string or an array of strings) and wait for the verdicts."""
    state = request.app.state
    settings = state.settings
    served = public_model_name(settings.model)
    if not accepts_model(body.model, settings.model):
        raise InputError(
            [FieldError(("model",), f"this deployment serves {served}; send that or leave it out")]
        )
    items = moderation_items(body.input, settings)
    job_id = await run_in_threadpool(
        submit,
        state,
        mode=Mode.PROMPT,
        priority=Priority.REALTIME,
        items=items,
        callback_url=None,
        api_key_id=key.id,
    )
    rows = await _wait(state.session_factory, job_id, settings.moderation_timeout_s)
    if rows is None:
        raise HTTPException(
            status.HTTP_504_GATEWAY_TIMEOUT,
            {
                "msg": f"no verdicts within {settings.moderation_timeout_s:g} s "
                "(GUARDQ_MODERATION_TIMEOUT_S); the job goes on: poll its status",
                "job_id": str(job_id),
                "status_url": job_path(job_id),
            },
        )
    unjudged = [row.index for row in rows if row.verdict is None]
    if unjudged or len(rows) != len(items):
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            {
                "msg": f"the workers could not moderate input item(s) {unjudged}; "
                "see the job's results for the errors",
                "job_id": str(job_id),
                "status_url": job_path(job_id),
            },
        )
    return ModerationResponse(
        id=f"modr-{job_id.hex}",
        model=served,
        results=[moderation_result(row) for row in rows],
        job_id=job_id,
    )
