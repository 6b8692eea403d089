"""Producer endpoints: submit a job, poll its status, read its results (JSON or JSONL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from api.deps import FactoryDep, ProducerKey, SessionDep, SettingsDep
from api.ratelimit import ITEMS, charge
from api.routes.lists import job_lists
from api.schemas import JobCreate, JobPublic, ResultsPage
from api.submission import submit
from api.validation import job_destinations, job_items
from api.views import job_path, job_public, result_item
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.jobs import MAX_PAGE, JobProgress, get_job, list_results
from guardq.store.keys import ApiKeyInfo
from guardq.store.models import INTEGER_MAX

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")


def _visible_job(session: Session, job_id: uuid.UUID, key: ApiKeyInfo) -> JobProgress:
    """The job, if this key may see it: its submitter's key, or any admin key."""
    job = get_job(session=session, job_id=job_id)
    if job is None or (key.role is not KeyRole.ADMIN and job.api_key_id != key.id):
        # The same answer for "absent" and "not yours": ids of others' jobs do not leak.
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found")
    return job


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
def create_job(
    body: JobCreate,
    key: ProducerKey,
    settings: SettingsDep,
    factory: FactoryDep,
    request: Request,
    response: Response,
) -> JobPublic:
    """Queue the items for moderation; poll ``links.self`` or wait for ``callback_url``."""
    items = job_items(body, settings)
    job_destinations(body, settings, request.app.state.resolver)
    lists = job_lists(factory, body.lists)
    charge(request, key, ITEMS, len(items))
    job_id = submit(
        request.app.state,
        mode=body.mode,
        priority=body.priority,
        items=items,
        callback_url=body.callback_url,
        alert_url=body.alert_url,
        api_key_id=key.id,
        retain_text=body.retain_text,
        lists=lists,
    ).id
    with session_scope(factory) as session:
        job = get_job(session=session, job_id=job_id)
    response.headers["Location"] = job_path(job_id)
    return job_public(job)


@router.get("/{job_id}", response_model=JobPublic)
def read_job(job_id: uuid.UUID, session: SessionDep, key: ProducerKey) -> JobPublic:
    return job_public(_visible_job(session, job_id, key))


def _jsonl(factory: sessionmaker[Session], job_id: uuid.UUID, after: int) -> Iterator[str]:
    # Each page in its own short transaction: a slow reader holds no connection.
    while True:
        with session_scope(factory) as session:
            rows = list_results(session=session, job_id=job_id, after_index=after, limit=MAX_PAGE)
        for row in rows:
            yield result_item(row).model_dump_json() + "\n"
        if len(rows) < MAX_PAGE:
            return
        after = rows[-1].index


@router.get(
    "/{job_id}/results",
    response_model=ResultsPage,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def read_results(
    job_id: uuid.UUID,
    session: SessionDep,
    factory: FactoryDep,
    key: ProducerKey,
    request: Request,
    after: Annotated[
        int, Query(ge=-1, le=INTEGER_MAX, description="The last index already read.")
    ] = -1,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    format: Annotated[Literal["json", "jsonl"] | None, Query()] = None,
    accept: Annotated[str | None, Header()] = None,
):
    """A page of results in index order, or (``format=jsonl`` or ``Accept:
    application/x-ndjson``) every result after ``after`` as one JSON object per line."""
    job = _visible_job(session, job_id, key)
    if format is None:
        wanted = (accept or "").lower()
        format = "jsonl" if any(kind in wanted for kind in JSONL_TYPES) else "json"
    if format == "jsonl":
        return StreamingResponse(_jsonl(factory, job_id, after), media_type="application/x-ndjson")

    rows = list_results(session=session, job_id=job_id, after_index=after, limit=limit)
    # Indices run 0..total-1, so the last row read tells whether another page exists.
    next_after = rows[-1].index if rows and rows[-1].index < job.total - 1 else None
    next_link = None
    if next_after is not None:
        next_link = f"{request.url.path}?{urlencode({'after': next_after, 'limit': limit})}"
    return ResultsPage(
        job_id=job.id,
        status=job.status,
        items=[result_item(row) for row in rows],
        next_after=next_after,
        next=next_link,
    )
