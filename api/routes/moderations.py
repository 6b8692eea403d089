"""``POST /v1/moderations``: OpenAI's moderation endpoint, answered by guardq's workers.

It submits a realtime prompt-mode job and waits for its verdicts, which the worker (or,
for cached texts, the submission itself) pushes to Redis once they are committed
(``guardq.realtime``), up to GUARDQ_MODERATION_TIMEOUT_S; past that it answers 504 with
the job id, which the caller can poll at ``/v1/jobs/{id}``. See ``api.openai_compat``
for the category mapping.
"""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from api.deps import ProducerKey
from api.errors import FieldError, InputError
from api.openai_compat import accepts_model, moderation_result, public_model_name
from api.ratelimit import ITEMS, charge
from api.schemas import ModerationRequest, ModerationResponse
from api.submission import answers_client, submit
from api.validation import moderation_items
from api.views import job_path
from guardq.realtime import answer_key, read_answers
from guardq.store.db import session_scope
from guardq.store.enums import ItemStatus, JobStatus, Priority
from guardq.store.jobs import (
    MAX_PAGE,
    CreatedItem,
    CreatedJob,
    ItemResult,
    get_job,
    list_results,
)
from guardq.store.verdicts import StoredVerdict
from guardq.verdict import Mode

router = APIRouter(tags=["moderations"])

# While no answer comes, the store is read this often: an item recorded by an earlier
# delivery of its message is not pushed again (guardq.realtime).
_STORE_CHECK_S = 1.0


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


async def wait_for_answers(state, job: CreatedJob, timeout_s: float) -> list[ItemResult] | None:
    """The job's results as the workers push them (``guardq.realtime``), or None when
    they did not all come within ``timeout_s``."""
    answers: dict[uuid.UUID, StoredVerdict | str] = {}
    redis = answers_client(state)
    key = answer_key(job.id)
    deadline = time.monotonic() + timeout_s
    while len(answers) < len(job.items):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        entry = await redis.blpop([key], timeout=min(remaining, _STORE_CHECK_S))
        if entry is None:
            rows = await run_in_threadpool(_finished_results, state.session_factory, job.id)
            if rows is not None:
                return rows
            continue
        answers.update(read_answers(entry[1]))
    return [_result(item, answers[item.id]) for item in job.items]


def _result(item: CreatedItem, answer: StoredVerdict | str) -> ItemResult:
    failed = isinstance(answer, str)
    return ItemResult(
        item_id=item.id,
        index=item.index,
        ref=None,
        content_sha256=item.content_sha256,
        metadata=None,
        status=ItemStatus.FAILED if failed else ItemStatus.DONE,
        error=answer if failed else None,
        verdict=None if failed else answer,
    )


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
    await run_in_threadpool(charge, request, key, ITEMS, len(items))
    job = await run_in_threadpool(
        submit,
        state,
        mode=Mode.PROMPT,
        priority=Priority.REALTIME,
        items=items,
        callback_url=None,
        api_key_id=key.id,
    )
    job_id = job.id
    rows = await wait_for_answers(state, job, settings.moderation_timeout_s)
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
